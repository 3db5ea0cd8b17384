//! sea-orm storage: the generic SQL service.
