//! The service registry: `app.service(path)`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Binding, Method, Service};

/// Services by path. Paths are stored without leading or trailing slashes.
#[derive(Default, Clone)]
pub struct Registry {
    services: HashMap<String, Arc<dyn Service>>,
    /// Registration order, for listings (OpenAPI, logs).
    order: Vec<String>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `service` at `path` (slashes trimmed). A later registration replaces it.
    pub fn register(&mut self, path: &str, service: Arc<dyn Service>) {
        let path = normalize_path(path).to_string();
        if self.services.insert(path.clone(), service).is_none() {
            self.order.push(path);
        }
    }

    pub fn get(&self, path: &str) -> Option<&Arc<dyn Service>> {
        self.services.get(normalize_path(path))
    }

    /// The path as registered (`/users/` -> `users`), borrowed from the registry: a label
    /// that is always one of the registered paths.
    pub fn key(&self, path: &str) -> Option<&str> {
        self.services
            .get_key_value(normalize_path(path))
            .map(|(k, _)| k.as_str())
    }

    /// The service whose `create` is a login (Feathers' `authentication`): a socket's
    /// handshake token logs in through it.
    pub fn login_path(&self) -> Option<&str> {
        self.order
            .iter()
            .find(|p| {
                self.services
                    .get(*p)
                    .is_some_and(|s| s.binds(Method::Create) == Binding::Login)
            })
            .map(String::as_str)
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// True when some registered service exposes `method` (Feathers answers unknown
    /// socket events differently from known methods a service lacks).
    pub fn any_has(&self, method: Method) -> bool {
        self.services
            .values()
            .any(|s| s.methods().contains(&method))
    }
}

/// `/users/` and `users` name the same service.
pub fn normalize_path(path: &str) -> &str {
    path.trim_matches('/')
}
