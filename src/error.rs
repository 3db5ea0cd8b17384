//! The Feathers error classes and their one table of name / code / className.
//!
//! Every failure that leaves the server is an [`Error`]; it serialises to the Feathers
//! JSON shape `{name, message, code, className, data?, errors?}` on both transports.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// The Feathers error classes (`@feathersjs/errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    NotAuthenticated,
    PaymentError,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    Timeout,
    Conflict,
    Gone,
    LengthRequired,
    Unprocessable,
    TooManyRequests,
    GeneralError,
    NotImplemented,
    BadGateway,
    Unavailable,
}

impl ErrorKind {
    /// `(name, code, className)` exactly as Feathers serialises them.
    pub const fn parts(self) -> (&'static str, u16, &'static str) {
        use ErrorKind::*;
        match self {
            BadRequest => ("BadRequest", 400, "bad-request"),
            NotAuthenticated => ("NotAuthenticated", 401, "not-authenticated"),
            PaymentError => ("PaymentError", 402, "payment-error"),
            Forbidden => ("Forbidden", 403, "forbidden"),
            NotFound => ("NotFound", 404, "not-found"),
            MethodNotAllowed => ("MethodNotAllowed", 405, "method-not-allowed"),
            NotAcceptable => ("NotAcceptable", 406, "not-acceptable"),
            Timeout => ("Timeout", 408, "timeout"),
            Conflict => ("Conflict", 409, "conflict"),
            Gone => ("Gone", 410, "gone"),
            LengthRequired => ("LengthRequired", 411, "length-required"),
            Unprocessable => ("Unprocessable", 422, "unprocessable"),
            TooManyRequests => ("TooManyRequests", 429, "too-many-requests"),
            GeneralError => ("GeneralError", 500, "general-error"),
            NotImplemented => ("NotImplemented", 501, "not-implemented"),
            BadGateway => ("BadGateway", 502, "bad-gateway"),
            Unavailable => ("Unavailable", 503, "unavailable"),
        }
    }

    pub const fn code(self) -> u16 {
        self.parts().1
    }
}

/// A Feathers error. `data` and `errors` are sent only when present.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub data: Option<Value>,
    pub errors: Option<Value>,
    /// Seconds for a `Retry-After` header (429 / 503); never serialised into the body.
    pub retry_after: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            data: None,
            errors: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn not_authenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAuthenticated, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MethodNotAllowed, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Feathers' adapter message for a missing record.
    pub fn no_record(id: impl std::fmt::Display) -> Self {
        Self::not_found(format!("No record found for id '{id}'"))
    }

    /// An unexpected failure: the detail is logged once here and never sent to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorKind::GeneralError, "Internal server error")
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn with_errors(mut self, errors: Value) -> Self {
        self.errors = Some(errors);
        self
    }

    pub fn code(&self) -> u16 {
        self.kind.code()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.parts().0, self.message)
    }
}

impl std::error::Error for Error {}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let (name, code, class_name) = self.kind.parts();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", name)?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("code", &code)?;
        map.serialize_entry("className", class_name)?;
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        if let Some(errors) = &self.errors {
            map.serialize_entry("errors", errors)?;
        }
        map.end()
    }
}

impl Error {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
