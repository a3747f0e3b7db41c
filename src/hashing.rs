//! Hashers fed in one write. The line fingerprints and the span IDs hash a few short
//! fields each, and SipHash's per-write bookkeeping costs more than hashing such fields:
//! gathered into one buffer, they take one write. SipHash is streaming, so where the
//! writes split does not change the hash.

use std::hash::Hasher;

/// Bytes gathered for `H`; `into_inner` writes them and hands the hasher back.
pub struct Joined<H> {
    buf: [u8; 256],
    len: usize,
    h: H,
}

impl<H: Hasher> Joined<H> {
    pub fn new(h: H) -> Self {
        Joined {
            buf: [0; 256],
            len: 0,
            h,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.h.write(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > self.buf.len() {
                self.h.write(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub fn into_inner(mut self) -> H {
        self.h.write(&self.buf[..self.len]);
        self.h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use siphasher::sip::SipHasher24;

    /// However the bytes are split into pushes, the hash is that of one write of them all.
    #[test]
    fn joined_writes_hash_as_one() {
        for len in [0usize, 1, 7, 8, 255, 256, 257, 600] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let mut one = SipHasher24::new_with_key(b"0123456789abcdef");
            one.write(&bytes);
            for piece in [1, 3, 100, 300] {
                let mut h = Joined::new(SipHasher24::new_with_key(b"0123456789abcdef"));
                for chunk in bytes.chunks(piece) {
                    h.push(chunk);
                }
                assert_eq!(
                    h.into_inner().finish(),
                    one.finish(),
                    "{len} bytes in {piece}s"
                );
            }
        }
    }
}
