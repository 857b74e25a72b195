//! How versions are kept compactly, the same way on every backend: each version's text is a
//! zstd frame, either whole or as a delta against a newer version of the same graph (the newer
//! text is the frame's prefix, which zstd matches against: what `zstd --patch-from` does).
//! Versions of a graph share most of their content, so a delta is a few bytes per change.
//!
//! The head version is always whole. When a new version arrives, the old head becomes a delta
//! against it (reverse deltas: the version read most, the newest, decodes in one step, and
//! pruning the oldest versions never touches the ones kept), except every
//! [`WHOLE_EVERY`]-th version, which stays whole, so reading any version decodes at most that
//! many frames. Rows from before compression (migration 0003) hold their text unpacked and
//! count as whole.

use orrery_core::store::StoreResult;
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter};

use crate::db::corrupt;

/// Every version whose number is a multiple of this stays whole when it stops being the head.
pub(crate) const WHOLE_EVERY: i64 = 16;

/// zstd's level: fast, and most of the gain of deltas comes from the prefix, not the level.
const LEVEL: i32 = 3;
/// The largest window a frame may use (1 GiB): documents are far smaller.
const MAX_WINDOW_LOG: u32 = 30;

/// One stored version, as a chain of deltas needs it.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    /// Its number in the graph.
    pub(crate) seq: i64,
    /// The newer version it is a delta against; `None` when whole.
    pub(crate) base_seq: Option<i64>,
    /// The zstd frame.
    pub(crate) packed: Option<Vec<u8>>,
    /// The text itself, in rows written before compression.
    pub(crate) document: Option<String>,
}

impl Stored {
    /// The bytes this row takes (what quotas count).
    pub(crate) fn size(&self) -> i64 {
        let n = match (&self.packed, &self.document) {
            (Some(packed), _) => packed.len(),
            (None, Some(text)) => text.len(),
            (None, None) => 0,
        };
        i64::try_from(n).unwrap_or(i64::MAX)
    }
}

/// The last version number whose row a chain starting at `seq` can need: the next one that
/// stays whole (rows between are deltas on newer rows, or whole).
pub(crate) fn chain_end(seq: i64) -> i64 {
    seq.div_euclid(WHOLE_EVERY)
        .saturating_add(i64::from(seq.rem_euclid(WHOLE_EVERY) != 0))
        .saturating_mul(WHOLE_EVERY)
}

/// Whether version `seq` stays whole when it stops being the head.
pub(crate) fn stays_whole(seq: i64) -> bool {
    seq.rem_euclid(WHOLE_EVERY) == 0
}

/// `text` as a whole frame.
pub(crate) fn whole(text: &str) -> StoreResult<Vec<u8>> {
    compress(text.as_bytes(), None)
}

/// `text` as a delta against `base` (which decoding needs again).
pub(crate) fn delta(text: &str, base: &str) -> StoreResult<Vec<u8>> {
    compress(text.as_bytes(), Some(base.as_bytes()))
}

/// The text of version `seq`, from `rows` holding it and the versions its chain of deltas
/// reaches (rows `seq..=chain_end(seq)` are enough).
pub(crate) fn text_of(rows: &[Stored], seq: i64) -> StoreResult<String> {
    let find = |seq: i64| {
        rows.iter()
            .find(|r| r.seq == seq)
            .ok_or_else(|| corrupt("graph version", format!("the delta base {seq} is missing")))
    };
    let mut chain = vec![find(seq)?];
    while let Some(base) = chain.last().and_then(|r| r.base_seq) {
        if chain.len() > rows.len() {
            return Err(corrupt("graph version", "the chain of deltas loops"));
        }
        chain.push(find(base)?);
    }
    let mut text: Option<String> = None;
    for row in chain.into_iter().rev() {
        text = Some(match (&row.packed, &row.document) {
            (Some(packed), _) => decompress(packed, text.as_deref())?,
            (None, Some(document)) if row.base_seq.is_none() => document.clone(),
            _ => return Err(corrupt("graph version", "a row without a document")),
        });
    }
    text.ok_or_else(|| corrupt("graph version", "an empty chain"))
}

fn compress(src: &[u8], prefix: Option<&[u8]>) -> StoreResult<Vec<u8>> {
    let mut cctx = CCtx::create();
    let params = [
        CParameter::CompressionLevel(LEVEL),
        CParameter::ContentSizeFlag(true),
        CParameter::ChecksumFlag(true),
    ];
    for param in params {
        cctx.set_parameter(param).map_err(zstd_error)?;
    }
    if let Some(prefix) = prefix {
        // The window spans the prefix and the text, so any match into the prefix is in reach;
        // long-distance matching finds the far ones a normal level misses.
        let span = prefix.len().saturating_add(src.len()).max(1);
        let log = (usize::BITS - span.leading_zeros()).clamp(10, MAX_WINDOW_LOG);
        cctx.set_parameter(CParameter::WindowLog(log))
            .map_err(zstd_error)?;
        cctx.set_parameter(CParameter::EnableLongDistanceMatching(true))
            .map_err(zstd_error)?;
        cctx.ref_prefix(prefix).map_err(zstd_error)?;
    }
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(src.len()));
    cctx.compress2(&mut out, src).map_err(zstd_error)?;
    Ok(out)
}

fn decompress(frame: &[u8], prefix: Option<&str>) -> StoreResult<String> {
    let size = match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) => usize::try_from(size).unwrap_or(usize::MAX),
        _ => return Err(corrupt("graph version", "a frame without its size")),
    };
    // A frame claiming more than any window could hold is corrupt (documents are far smaller).
    if size > 1 << MAX_WINDOW_LOG {
        return Err(corrupt("graph version", format!("a frame of {size} bytes")));
    }
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::WindowLogMax(MAX_WINDOW_LOG))
        .map_err(zstd_error)?;
    if let Some(prefix) = prefix {
        dctx.ref_prefix(prefix.as_bytes()).map_err(zstd_error)?;
    }
    let mut out = Vec::with_capacity(size);
    dctx.decompress(&mut out, frame).map_err(zstd_error)?;
    String::from_utf8(out).map_err(|e| corrupt("graph version", e))
}

fn zstd_error(code: zstd_safe::ErrorCode) -> orrery_core::store::StoreError {
    corrupt("graph version", zstd_safe::get_error_name(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, base_seq: Option<i64>, packed: Vec<u8>) -> Stored {
        Stored {
            seq,
            base_seq,
            packed: Some(packed),
            document: None,
        }
    }

    #[test]
    fn deltas_decode_through_their_chain_and_are_small() {
        let noise: String = (0u64..200_000)
            .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 7 & 15) as u8))
            .collect();
        let v1 = format!("{{\"a\":\"{noise}\",\"n\":1}}");
        let v2 = format!("{{\"a\":\"{noise}\",\"n\":2}}");
        let v3 = format!("{{\"a\":\"{noise}\",\"n\":3}}");
        let head = whole(&v3).unwrap();
        let d2 = delta(&v2, &v3).unwrap();
        let d1 = delta(&v1, &v2).unwrap();
        assert!(
            d1.len() < 200 && d2.len() < 200,
            "{} {}",
            d1.len(),
            d2.len()
        );
        let rows = [row(1, Some(2), d1), row(2, Some(3), d2), row(3, None, head)];
        assert_eq!(text_of(&rows, 1).unwrap(), v1);
        assert_eq!(text_of(&rows, 3).unwrap(), v3);
        assert!(text_of(&rows[..2], 1).is_err(), "a missing base");
    }

    #[test]
    fn chains_end_at_the_next_whole_version() {
        assert_eq!(chain_end(1), WHOLE_EVERY);
        assert_eq!(chain_end(WHOLE_EVERY), WHOLE_EVERY);
        assert_eq!(chain_end(WHOLE_EVERY + 1), 2 * WHOLE_EVERY);
        assert!(stays_whole(2 * WHOLE_EVERY) && !stays_whole(3));
    }
}
