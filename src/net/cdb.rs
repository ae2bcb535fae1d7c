//! The cdb constant database format (D. J. Bernstein's, as tcprules writes
//! and tcpserver reads it): a 2048-byte header of 256 (position, length)
//! pairs of little-endian u32, the records (key length, data length, key,
//! data), then 256 open-addressing hash tables of (hash, record position)
//! slots. Pure code: bytes in, bytes out.

/// A cdb that is truncated or inconsistent where a lookup went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Records of a cdb: (key, data), in order.
pub type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// The cdb hash of a key.
pub fn hash(key: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in key {
        h = (h << 5).wrapping_add(h) ^ u32::from(c);
    }
    h
}

fn u32_at(bytes: &[u8], pos: usize) -> Option<u32> {
    let b = bytes.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The data of the first record whose key is `key`. `Err` if the file is
/// truncated or corrupt where the lookup went.
pub fn find<'a>(db: &'a [u8], key: &[u8]) -> Result<Option<&'a [u8]>, Corrupt> {
    let h = hash(key);
    let slot = (h & 255) as usize * 8;
    let table = u32_at(db, slot).ok_or(Corrupt)? as usize;
    let slots = u32_at(db, slot + 4).ok_or(Corrupt)? as usize;
    if slots == 0 {
        return Ok(None);
    }
    let mut index = ((h >> 8) as usize) % slots;
    for _ in 0..slots {
        let at = table + index * 8;
        let sh = u32_at(db, at).ok_or(Corrupt)?;
        let pos = u32_at(db, at + 4).ok_or(Corrupt)? as usize;
        if pos == 0 {
            return Ok(None);
        }
        if sh == h {
            let klen = u32_at(db, pos).ok_or(Corrupt)? as usize;
            let dlen = u32_at(db, pos + 4).ok_or(Corrupt)? as usize;
            let kstart = pos + 8;
            let k = db.get(kstart..kstart + klen).ok_or(Corrupt)?;
            if k == key {
                return db.get(kstart + klen..kstart + klen + dlen).map(Some).ok_or(Corrupt);
            }
        }
        index = (index + 1) % slots;
    }
    Ok(None)
}

/// Build a cdb holding `records` (in order; a lookup finds the first
/// record with a key).
pub fn build(records: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>, &'static str> {
    let mut out = vec![0u8; 2048];
    let mut entries: Vec<(u32, u32)> = Vec::with_capacity(records.len());
    for (key, data) in records {
        let pos = u32::try_from(out.len()).map_err(|_| "cdb too large")?;
        let klen = u32::try_from(key.len()).map_err(|_| "key too large")?;
        let dlen = u32::try_from(data.len()).map_err(|_| "data too large")?;
        out.extend_from_slice(&klen.to_le_bytes());
        out.extend_from_slice(&dlen.to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(data);
        entries.push((hash(key), pos));
    }
    let mut header = [(0u32, 0u32); 256];
    for (t, head) in header.iter_mut().enumerate() {
        let members: Vec<(u32, u32)> =
            entries.iter().copied().filter(|(h, _)| (h & 255) as usize == t).collect();
        let slots = members.len() * 2;
        let mut table = vec![(0u32, 0u32); slots];
        for (h, pos) in members {
            let mut i = ((h >> 8) as usize) % slots;
            while table[i].1 != 0 {
                i = (i + 1) % slots;
            }
            table[i] = (h, pos);
        }
        let tpos = u32::try_from(out.len()).map_err(|_| "cdb too large")?;
        *head = (tpos, slots as u32);
        for (h, pos) in table {
            out.extend_from_slice(&h.to_le_bytes());
            out.extend_from_slice(&pos.to_le_bytes());
        }
    }
    if u32::try_from(out.len()).is_err() {
        return Err("cdb too large");
    }
    for (t, (pos, len)) in header.iter().enumerate() {
        out[t * 8..t * 8 + 4].copy_from_slice(&pos.to_le_bytes());
        out[t * 8 + 4..t * 8 + 8].copy_from_slice(&len.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hash() {
        assert_eq!(hash(b""), 5381);
        assert_eq!(hash(b"a"), (5381u32 << 5).wrapping_add(5381) ^ 97);
    }

    #[test]
    fn round_trip_first_wins() {
        let mut records = Vec::new();
        for i in 0..1000 {
            records.push((format!("key{i}").into_bytes(), format!("value{i}").into_bytes()));
        }
        records.push((b"key5".to_vec(), b"second".to_vec()));
        records.push((Vec::new(), b"empty key".to_vec()));
        let db = build(&records).unwrap();
        for i in 0..1000 {
            let want = format!("value{i}");
            assert_eq!(find(&db, format!("key{i}").as_bytes()), Ok(Some(want.as_bytes())));
        }
        assert_eq!(find(&db, b""), Ok(Some(&b"empty key"[..])));
        assert_eq!(find(&db, b"nope"), Ok(None));
    }

    #[test]
    fn empty_db_and_truncation() {
        let db = build(&[]).unwrap();
        assert_eq!(db.len(), 2048);
        assert_eq!(find(&db, b"x"), Ok(None));
        assert_eq!(find(&[0u8; 10], b"x"), Err(Corrupt));
    }
}
