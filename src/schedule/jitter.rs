//! Jitter: how far after its nominal instant a fire of a job is due.
//!
//! [`Jitter::Uniform`] spreads fires over the window; [`Jitter::Hash`]
//! gives every fire of a job one stable offset derived from its name
//! (Jenkins' `H`), so that many jobs on one schedule do not all start at
//! once. Neither draws a random number: the uniform offset is a hash of
//! the trigger id and the nominal instant, so every node that leases the
//! trigger (and every preview) computes the same one.
//!
//! The hash is FNV-1a (64 bits) finished with the SplitMix64 mixer: it is
//! fixed here, independent of the Rust release and the machine, which
//! keeps offsets the same across nodes and versions.

use std::time::Duration;

/// How a job's fires are spread after their nominal instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Each fire at an offset in `[0, window)`, spread evenly.
    Uniform(Duration),
    /// Every fire at the same offset in `[0, window)`, from the job name.
    Hash(Duration),
}

impl Jitter {
    /// The window offsets fall in.
    pub fn window(&self) -> Duration {
        match self {
            Jitter::Uniform(w) | Jitter::Hash(w) => *w,
        }
    }

    /// `uniform` or `hash`.
    pub fn kind(&self) -> &'static str {
        match self {
            Jitter::Uniform(_) => "uniform",
            Jitter::Hash(_) => "hash",
        }
    }

    /// The offset (ms, in `[0, window)`) of the fire of `trigger_id` of
    /// job `job_name` at `nominal_ms`.
    pub fn offset_ms(&self, job_name: &str, trigger_id: i64, nominal_ms: i64) -> i64 {
        let hash = match self {
            Jitter::Hash(_) => fnv1a(job_name.as_bytes()),
            Jitter::Uniform(_) => {
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&trigger_id.to_le_bytes());
                key[8..].copy_from_slice(&nominal_ms.to_le_bytes());
                fnv1a(&key)
            }
        };
        let window = self.window().as_millis().clamp(1, u64::MAX as u128) as u64;
        (mix(hash) % window).min(i64::MAX as u64) as i64
    }
}

/// The offset of a job's optional jitter; 0 without one.
pub fn offset_ms(jitter: Option<&Jitter>, job_name: &str, trigger_id: i64, nominal_ms: i64) -> i64 {
    jitter.map_or(0, |j| j.offset_ms(job_name, trigger_id, nominal_ms))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64's finaliser: spreads FNV's low bits before the modulo.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    #[test]
    fn offsets_stay_in_the_window() {
        for window_ms in [1u64, 2, 7, 1000, 300_000, 86_400_000] {
            let w = Duration::from_millis(window_ms);
            for i in 0..500i64 {
                for j in [Jitter::Uniform(w), Jitter::Hash(w)] {
                    let o = j.offset_ms(&format!("job-{i}"), i, i * 3_600_000);
                    assert!((0..window_ms as i64).contains(&o), "{j:?}: {o}");
                }
            }
        }
    }

    #[test]
    fn hash_offsets_are_stable_per_name_and_spread_over_the_window() {
        let j = Jitter::Hash(WINDOW);
        let a = j.offset_ms("nightly-report", 1, 0);
        assert_eq!(a, j.offset_ms("nightly-report", 99, 86_400_000));
        assert_eq!(a, Jitter::Hash(WINDOW).offset_ms("nightly-report", 7, 5));
        let mut tenths = [0usize; 10];
        for i in 0..1000 {
            let o = j.offset_ms(&format!("job-{i}"), 1, 0);
            tenths[(o * 10 / WINDOW.as_millis() as i64) as usize] += 1;
        }
        // 100 expected in each tenth; an even spread keeps all near it.
        assert!(
            tenths.iter().all(|&n| (50..=150).contains(&n)),
            "{tenths:?}"
        );
    }

    #[test]
    fn uniform_offsets_vary_per_fire_and_repeat_on_every_node() {
        let j = Jitter::Uniform(WINDOW);
        let offsets: Vec<i64> = (0..100)
            .map(|h| j.offset_ms("x", 3, h * 3_600_000))
            .collect();
        let again: Vec<i64> = (0..100)
            .map(|h| j.offset_ms("y", 3, h * 3_600_000))
            .collect();
        assert_eq!(offsets, again, "the job name plays no part");
        let mut distinct = offsets.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 90, "{distinct:?}");
        assert_ne!(j.offset_ms("x", 3, 0), j.offset_ms("x", 4, 0));
        assert_eq!(offset_ms(None, "x", 3, 0), 0);
    }
}
