//! Records of Docker's `local` log driver: each one is a protobuf `LogEntry` (the message
//! of Docker's logdriver plugin API, api/types/plugins/logdriver/entry.proto) framed by its
//! length as a big-endian u32 before and after, so the file can be read backwards too.
//! The shim writes them; berthd reads them for `logs`.

/// Docker's `LogEntry`; field numbers are the wire format.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogEntry {
    /// "stdout" or "stderr".
    #[prost(string, tag = "1")]
    pub source: String,
    #[prost(int64, tag = "2")]
    pub time_nano: i64,
    /// The line without its newline.
    #[prost(bytes = "vec", tag = "3")]
    pub line: Vec<u8>,
    /// The line goes on in the next entry (it had no newline).
    #[prost(bool, tag = "4")]
    pub partial: bool,
    #[prost(message, optional, tag = "5")]
    pub partial_log_metadata: Option<PartialLogEntryMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialLogEntryMetadata {
    #[prost(bool, tag = "1")]
    pub last: bool,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(int32, tag = "3")]
    pub ordinal: i32,
}

/// Length of each of the two size fields.
const LEN: usize = 4;
/// A record larger than this is corruption, not a log line (lines are cut at 16 KiB).
const MAX_RECORD: usize = 16 << 20;

/// Appends `entry` as one framed record.
pub fn encode(entry: &LogEntry, out: &mut Vec<u8>) {
    use prost::Message;
    let size = entry.encoded_len() as u32;
    out.extend_from_slice(&size.to_be_bytes());
    entry.encode(out).expect("a Vec grows as needed");
    out.extend_from_slice(&size.to_be_bytes());
}

/// The first record of `buf` and the bytes it takes; `Ok(None)` when `buf` holds only
/// part of one (the writer is mid-record). A record that cannot be one is an error.
pub fn decode(buf: &[u8]) -> Result<Option<(LogEntry, usize)>, String> {
    use prost::Message;
    let Some(head) = buf.get(..LEN) else { return Ok(None) };
    let size = u32::from_be_bytes(head.try_into().expect("4 bytes")) as usize;
    if size > MAX_RECORD {
        return Err(format!("record of {size} bytes"));
    }
    let total = LEN + size + LEN;
    let Some(record) = buf.get(..total) else { return Ok(None) };
    if record[LEN + size..] != head[..] {
        return Err("record sizes before and after differ".into());
    }
    let entry = LogEntry::decode(&record[LEN..LEN + size]).map_err(|e| e.to_string())?;
    Ok(Some((entry, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_partial_and_corrupt() {
        let a = LogEntry { source: "stdout".into(), time_nano: 1_700_000_000_123_456_789, line: b"hello".to_vec(), partial: false, partial_log_metadata: None };
        let b = LogEntry { source: "stderr".into(), time_nano: 5, line: vec![0xff, 0], partial: true, partial_log_metadata: None };
        let mut buf = Vec::new();
        encode(&a, &mut buf);
        let first = buf.len();
        encode(&b, &mut buf);
        // The wire bytes of `a`, as Go's protobuf encodes them.
        let mut want = vec![0x0a, 6];
        want.extend_from_slice(b"stdout");
        want.push(0x10);
        let mut t = a.time_nano as u64;
        while t >= 0x80 {
            want.push((t as u8) | 0x80);
            t >>= 7;
        }
        want.push(t as u8);
        want.extend_from_slice(&[0x1a, 5]);
        want.extend_from_slice(b"hello");
        assert_eq!(&buf[4..first - 4], &want[..]);
        assert_eq!(&buf[..4], &(want.len() as u32).to_be_bytes());

        assert_eq!(decode(&buf).unwrap(), Some((a, first)));
        assert_eq!(decode(&buf[first..]).unwrap(), Some((b, buf.len() - first)));
        assert_eq!(decode(&buf[..first - 1]).unwrap(), None, "incomplete");
        assert_eq!(decode(&buf[..3]).unwrap(), None);
        let mut bad = buf.clone();
        bad[first - 1] ^= 1;
        assert!(decode(&bad).is_err());
        assert!(decode(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
