//! Docker's JSON progress messages (`jsonmessage.JSONMessage`), one JSON object per line
//! on streaming endpoints: `{"status":"..."}`, `{"stream":"Loaded image: x\n"}`,
//! `{"errorDetail":{"message":"..."},"error":"..."}`.

use serde::{Deserialize, Serialize};

/// One progress message. Every field is optional on the wire.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// Deprecated by Docker in favour of `errorDetail`, still sent and read by its CLI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

impl JsonMessage {
    pub fn status(s: impl Into<String>) -> JsonMessage {
        JsonMessage { status: Some(s.into()), ..Default::default() }
    }

    pub fn stream(s: impl Into<String>) -> JsonMessage {
        JsonMessage { stream: Some(s.into()), ..Default::default() }
    }

    pub fn error(message: impl Into<String>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail { code: None, message: message.clone() }),
            error: Some(message),
            ..Default::default()
        }
    }

    /// The message as one line of the stream (Docker terminates them with `\r\n`).
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        v.extend_from_slice(b"\r\n");
        v
    }

    /// The error this message carries, if it is an error message.
    pub fn error_message(&self) -> Option<&str> {
        self.error_detail.as_ref().map(|d| d.message.as_str()).filter(|m| !m.is_empty()).or(self.error.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        assert_eq!(JsonMessage::status("sha256:ab").to_line(), b"{\"status\":\"sha256:ab\"}\r\n");
        let e: JsonMessage = serde_json::from_str(r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#).unwrap();
        assert_eq!(e.error_message(), Some("boom"));
        assert_eq!(JsonMessage::error("boom"), e);
    }
}
