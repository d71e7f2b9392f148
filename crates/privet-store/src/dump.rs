//! The framing both backends' backup dumps share: big-endian integers and length-prefixed
//! byte strings (a u32 BE length, then the bytes), read with a bound on every length so a
//! damaged dump cannot make the loader allocate without limit. The sections of each dump are
//! the backend's own (see each backend's `snapshot` module).

use std::io::{Read, Write};

use crate::{Result, StoreError};

/// The longest string or blob a dump may hold.
pub const MAX_ITEM: u32 = 1 << 30;

/// A failed read or write of the backup stream.
pub fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("backup stream: {e}"))
}

/// A dump that does not parse.
pub fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("backup dump: {what}"))
}

/// Writes `b` with its length first.
pub fn put_bytes(out: &mut dyn Write, b: &[u8]) -> Result<()> {
    let len = u32::try_from(b.len())
        .ok()
        .filter(|n| *n <= MAX_ITEM)
        .ok_or_else(|| corrupt("a value is too large to dump"))?;
    out.write_all(&len.to_be_bytes()).map_err(io)?;
    out.write_all(b).map_err(io)
}

/// Writes `s` with its length first.
pub fn put_str(out: &mut dyn Write, s: &str) -> Result<()> {
    put_bytes(out, s.as_bytes())
}

/// Reads exactly `N` bytes.
pub fn get_exact<const N: usize>(input: &mut dyn Read) -> Result<[u8; N]> {
    let mut b = [0u8; N];
    input.read_exact(&mut b).map_err(io)?;
    Ok(b)
}

/// Reads one byte.
pub fn get_u8(input: &mut dyn Read) -> Result<u8> {
    Ok(get_exact::<1>(input)?[0])
}

/// Reads a u32 BE.
pub fn get_u32(input: &mut dyn Read) -> Result<u32> {
    Ok(u32::from_be_bytes(get_exact(input)?))
}

/// Reads a u64 BE.
pub fn get_u64(input: &mut dyn Read) -> Result<u64> {
    Ok(u64::from_be_bytes(get_exact(input)?))
}

/// Reads a length-prefixed byte string of at most [`MAX_ITEM`] bytes.
pub fn get_bytes(input: &mut dyn Read) -> Result<Vec<u8>> {
    let len = get_u32(input)?;
    if len > MAX_ITEM {
        return Err(corrupt("value length"));
    }
    let mut b = vec![0u8; len as usize];
    input.read_exact(&mut b).map_err(io)?;
    Ok(b)
}

/// Reads a length-prefixed UTF-8 string.
pub fn get_str(input: &mut dyn Read) -> Result<String> {
    String::from_utf8(get_bytes(input)?).map_err(|_| corrupt("text is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_values_read_back_and_cut_or_oversize_ones_are_refused() {
        let mut buf = Vec::new();
        put_str(&mut buf, "orders").unwrap();
        put_bytes(&mut buf, &[0, 255]).unwrap();
        buf.extend_from_slice(&7u64.to_be_bytes());
        let mut r = buf.as_slice();
        assert_eq!(get_str(&mut r).unwrap(), "orders");
        assert_eq!(get_bytes(&mut r).unwrap(), vec![0, 255]);
        assert_eq!(get_u64(&mut r).unwrap(), 7);
        assert!(get_u8(&mut r).is_err());
        let cut = &buf[..buf.len() - 12];
        let mut r = cut;
        get_str(&mut r).unwrap();
        assert!(get_bytes(&mut r).is_err());
        let huge = (MAX_ITEM + 1).to_be_bytes();
        assert!(matches!(
            get_bytes(&mut &huge[..]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
