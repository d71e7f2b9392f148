//! The byte layout of a record's field ciphertexts, shared by every backend so a backup or a
//! migration between backends moves them unchanged: `u16` count, then per field a `u8` name
//! length, the name, a `u32` ciphertext length and the ciphertext (big-endian lengths).

/// A stored time: microseconds since the Unix epoch, the same in every backend so rows move
/// between backends (and through backups) unchanged.
pub fn micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// Decodes [`micros`]; `None` outside the range `time` can represent.
pub fn from_micros(m: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000).ok()
}

/// A stored field blob that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field blob is malformed at byte {offset}")]
pub struct CodecError {
    offset: usize,
}

/// Encodes `(field, ciphertext)` pairs.
pub fn encode_fields(fields: &[(String, Vec<u8>)]) -> Vec<u8> {
    let size = 2 + fields
        .iter()
        .map(|(n, c)| 5 + n.len() + c.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    // Schemas bound names to 63 bytes and records to far fewer than 65,536 fields; the
    // saturating conversions only guard against misuse.
    out.extend_from_slice(
        &u16::try_from(fields.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    for (name, ct) in fields.iter().take(usize::from(u16::MAX)) {
        let name = &name.as_bytes()[..name.len().min(255)];
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&u32::try_from(ct.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(ct);
    }
    out
}

/// Decodes what [`encode_fields`] wrote.
pub fn decode_fields(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, CodecError> {
    let mut r = Reader { bytes, at: 0 };
    let n = u16::from_be_bytes(r.array()?);
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = usize::from(r.array::<1>()?[0]);
        let name = std::str::from_utf8(r.take(len)?)
            .map_err(|_| r.err())?
            .to_owned();
        let len = u32::from_be_bytes(r.array()?) as usize;
        out.push((name, r.take(len)?.to_vec()));
    }
    if r.at != bytes.len() {
        return Err(r.err());
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn err(&self) -> CodecError {
        CodecError { offset: self.at }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| self.err())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let s = self.take(N)?;
        <[u8; N]>::try_from(s).map_err(|_| self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        assert_eq!(from_micros(micros(t)), Some(t));
        assert_eq!(from_micros(i64::MAX), None);
    }

    #[test]
    fn fields_round_trip() {
        let f = vec![
            ("email".to_owned(), vec![1, 2, 3]),
            ("name".to_owned(), vec![]),
        ];
        assert_eq!(decode_fields(&encode_fields(&f)).unwrap(), f);
        assert_eq!(decode_fields(&encode_fields(&[])).unwrap(), vec![]);
    }

    #[test]
    fn truncated_or_padded_blobs_are_refused() {
        let blob = encode_fields(&[("email".to_owned(), vec![9; 40])]);
        for cut in 0..blob.len() {
            assert!(decode_fields(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = blob.clone();
        padded.push(0);
        assert!(decode_fields(&padded).is_err());
    }
}
