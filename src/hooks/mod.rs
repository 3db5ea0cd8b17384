//! The one pipeline around every service call, in this order:
//! lookup -> authenticate -> authorize -> execute (one transaction with its audit rows)
//! -> commit -> protect -> publish.

use crate::app::App;
use crate::error::Result;
use crate::service::{Call, Outcome};

/// Runs `call` through every stage and returns what the caller may see.
pub async fn run(app: &App, call: Call) -> Result<Outcome> {
    let _ = (app, call);
    Err(crate::error::Error::internal("pipeline not built yet"))
}
