//! Closed sets of names: one macro for every fieldless enum that is stored,
//! configured or sent as a string (statuses, states, policies, dialects).
//!
//! [`closed_enum!`] gives such an enum `as_str`, `ALL`, [`FromStr`]
//! (leading and trailing blanks ignored; the error lists every expected
//! value), [`Display`] and serde as the string, so no enum writes its
//! names twice. It is the lowest layer of the crate: `schedule` and
//! `model` both use it, and it uses nothing of theirs.
//!
//! A value also compares equal to its name (`status == "running"`), as
//! rows read with plain SQL spell it.
//!
//! [`FromStr`]: std::str::FromStr
//! [`Display`]: std::fmt::Display

/// A name that is not one of a closed set's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{found}`: expected {}", expected_list(.expected))]
pub struct UnknownName {
    /// What the set names, e.g. `cron dialect`.
    pub what: &'static str,
    /// The text given.
    pub found: String,
    /// Every value of the set.
    pub expected: &'static [&'static str],
}

impl From<UnknownName> for String {
    fn from(e: UnknownName) -> String {
        e.to_string()
    }
}

/// `a`, `a or b`, `a, b or c`.
pub fn expected_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Defines a fieldless enum whose variants are named by strings:
///
/// ```ignore
/// closed_enum! {
///     /// Which cron syntax an expression is written in.
///     pub enum Dialect: "cron dialect" {
///         Quartz = "quartz",
///         Unix = "unix",
///     }
/// }
/// ```
///
/// The string after the colon names the set in parse errors ("unknown cron
/// dialect `x`: expected quartz or unix"). Attributes on the enum and its
/// variants pass through (`#[derive(Default)]` with `#[default]`).
macro_rules! closed_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The value's name, as stored and configured.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::closed_enum::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::closed_enum::UnknownName {
                        what: $what,
                        found: s.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// A value equals its name: `status == "running"`.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use closed_enum;

#[cfg(test)]
mod tests {
    closed_enum! {
        /// A test set.
        #[derive(Default)]
        enum Colour: "colour" {
            #[default]
            Red = "red",
            DarkBlue = "dark_blue",
            Green = "green",
        }
    }

    #[test]
    fn names_parse_print_and_round_trip_through_serde() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DarkBlue, Colour::Green]);
        for c in Colour::ALL {
            assert_eq!(c.as_str().parse::<Colour>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), c);
        }
        assert_eq!(" dark_blue ".parse::<Colour>(), Ok(Colour::DarkBlue));
        assert_eq!(Colour::default(), Colour::Red);
        assert!(Colour::DarkBlue == "dark_blue" && Colour::Red != "green");
    }

    #[test]
    fn an_unknown_name_lists_every_expected_value() {
        let e = "blue".parse::<Colour>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown colour `blue`: expected red, dark_blue or green"
        );
        let e = serde_json::from_str::<Colour>("\"Red\"").unwrap_err();
        assert!(
            e.to_string().contains("expected red, dark_blue or green"),
            "{e}"
        );
    }
}
