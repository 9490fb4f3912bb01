//! Turning a layer blob into a tar stream: none, gzip or zstd, declared or sniffed.

use std::io::{BufRead, BufReader, Read};

use crate::media_type::Compression;

/// Wraps `reader` in the decompressor for `compression`; `None` sniffs the magic bytes.
pub fn decompress<'a>(reader: impl Read + 'a, compression: Option<Compression>) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let compression = match compression {
        Some(c) => c,
        None => Compression::sniff(buffered.fill_buf()?),
    };
    Ok(match compression {
        Compression::None => Box::new(buffered),
        // Multi-member: Go's gzip reader (and so Docker) accepts concatenated members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}
