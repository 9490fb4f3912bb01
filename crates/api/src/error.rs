//! The body of every Engine API error response.

use serde::{Deserialize, Serialize};

/// `{"message": "..."}`, as Docker answers every 4xx/5xx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> ErrorBody {
        ErrorBody { message: message.into() }
    }
}
