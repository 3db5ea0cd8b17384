//! Services, one file per resource.
