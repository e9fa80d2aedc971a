//! The job kinds a node can run, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::JobKind;
use super::command::CommandJob;
use super::http::HttpJob;
use super::noop::NoopJob;

/// Job kinds by their stable names.
#[derive(Clone)]
pub struct JobRegistry {
    kinds: BTreeMap<&'static str, Arc<dyn JobKind>>,
}

impl std::fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl JobRegistry {
    /// A registry with no kinds.
    pub fn empty() -> Self {
        Self {
            kinds: BTreeMap::new(),
        }
    }

    /// The built-in kinds: `command`, `http` and `noop`. The `http` kind
    /// builds its HTTP clients on first use, so a registry is cheap to
    /// make; each registry has its own clients (one per node).
    pub fn with_builtins() -> Self {
        let mut registry = Self::empty();
        registry.register(Arc::new(CommandJob));
        registry.register(Arc::new(HttpJob::new()));
        registry.register(Arc::new(NoopJob));
        registry
    }

    /// Adds (or replaces) a kind under its name.
    pub fn register(&mut self, kind: Arc<dyn JobKind>) -> &mut Self {
        self.kinds.insert(kind.name(), kind);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn JobKind>> {
        self.kinds.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}

impl Default for JobRegistry {
    fn default() -> Self {
        Self::with_builtins()
    }
}
