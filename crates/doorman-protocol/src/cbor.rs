//! Strict CBOR reading and bounded CBOR writing on top of `minicbor`.
//!
//! Every message in this crate is a small CBOR structure with a fixed shape, so the
//! reader only offers what those shapes need and refuses everything else: indefinite
//! lengths, trailing bytes, wrong types. Errors carry no detail on purpose; a lock
//! has no one to tell *why* a byte string was rubbish.

use minicbor::data::Type;
use minicbor::decode::Decoder;
use minicbor::encode::write::Cursor;
use minicbor::encode::Encoder;

use crate::EncodeError;

/// The input is not the CBOR structure the protocol defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub(crate) struct Reader<'b> {
    d: Decoder<'b>,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Self { d: Decoder::new(bytes) }
    }

    /// A definite-length array; returns its length.
    pub(crate) fn array(&mut self) -> Result<u64, Malformed> {
        self.d.array().map_err(|_| Malformed)?.ok_or(Malformed)
    }

    /// A definite-length array of exactly `n` elements.
    pub(crate) fn array_of(&mut self, n: u64) -> Result<(), Malformed> {
        if self.array()? == n {
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// A definite-length map; returns its number of pairs.
    pub(crate) fn map(&mut self) -> Result<u64, Malformed> {
        self.d.map().map_err(|_| Malformed)?.ok_or(Malformed)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'b [u8], Malformed> {
        self.d.bytes().map_err(|_| Malformed)
    }

    /// A byte string of exactly `N` bytes.
    pub(crate) fn bytes_fixed<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let b = self.bytes()?;
        <[u8; N]>::try_from(b).map_err(|_| Malformed)
    }

    pub(crate) fn str(&mut self) -> Result<&'b str, Malformed> {
        self.d.str().map_err(|_| Malformed)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Malformed> {
        self.d.u64().map_err(|_| Malformed)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        self.d.u8().map_err(|_| Malformed)
    }

    /// A signed integer (major type 0 or 1) that fits an `i64`.
    pub(crate) fn i64(&mut self) -> Result<i64, Malformed> {
        self.d.i64().map_err(|_| Malformed)
    }

    pub(crate) fn bool(&mut self) -> Result<bool, Malformed> {
        self.d.bool().map_err(|_| Malformed)
    }

    pub(crate) fn tag(&mut self) -> Result<u64, Malformed> {
        self.d.tag().map(|t| t.as_u64()).map_err(|_| Malformed)
    }

    pub(crate) fn datatype(&self) -> Result<Type, Malformed> {
        self.d.datatype().map_err(|_| Malformed)
    }

    /// Consumes a `null` if one is next; tells whether it did.
    pub(crate) fn null_if_next(&mut self) -> Result<bool, Malformed> {
        if self.datatype()? == Type::Null {
            self.d.null().map_err(|_| Malformed)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Either `null` or a byte string of exactly `N` bytes.
    pub(crate) fn opt_bytes_fixed<const N: usize>(&mut self) -> Result<Option<[u8; N]>, Malformed> {
        if self.null_if_next()? {
            Ok(None)
        } else {
            self.bytes_fixed::<N>().map(Some)
        }
    }

    /// Every byte of the input must have been consumed.
    pub(crate) fn finish(&self) -> Result<(), Malformed> {
        if self.d.position() == self.d.input().len() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

/// A CBOR writer into a caller-provided buffer; running out of room is an error, never a panic.
pub(crate) struct Writer<'a> {
    e: Encoder<Cursor<&'a mut [u8]>>,
}

fn room<T, E>(r: Result<T, minicbor::encode::Error<E>>) -> Result<(), EncodeError> {
    r.map(|_| ()).map_err(|_| EncodeError::BufferTooSmall)
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { e: Encoder::new(Cursor::new(buf)) }
    }

    pub(crate) fn len(&self) -> usize {
        self.e.writer().position()
    }

    pub(crate) fn array(&mut self, n: u64) -> Result<&mut Self, EncodeError> {
        room(self.e.array(n))?;
        Ok(self)
    }

    pub(crate) fn map(&mut self, n: u64) -> Result<&mut Self, EncodeError> {
        room(self.e.map(n))?;
        Ok(self)
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<&mut Self, EncodeError> {
        room(self.e.bytes(b))?;
        Ok(self)
    }

    pub(crate) fn str(&mut self, s: &str) -> Result<&mut Self, EncodeError> {
        room(self.e.str(s))?;
        Ok(self)
    }

    pub(crate) fn u64(&mut self, x: u64) -> Result<&mut Self, EncodeError> {
        room(self.e.u64(x))?;
        Ok(self)
    }

    pub(crate) fn i64(&mut self, x: i64) -> Result<&mut Self, EncodeError> {
        room(self.e.i64(x))?;
        Ok(self)
    }

    pub(crate) fn bool(&mut self, x: bool) -> Result<&mut Self, EncodeError> {
        room(self.e.bool(x))?;
        Ok(self)
    }

    pub(crate) fn null(&mut self) -> Result<&mut Self, EncodeError> {
        room(self.e.null())?;
        Ok(self)
    }

    pub(crate) fn tag(&mut self, t: u64) -> Result<&mut Self, EncodeError> {
        room(self.e.tag(minicbor::data::Tag::new(t)))?;
        Ok(self)
    }

    pub(crate) fn opt_bytes(&mut self, b: Option<&[u8]>) -> Result<&mut Self, EncodeError> {
        match b {
            Some(b) => self.bytes(b),
            None => self.null(),
        }
    }
}

/// A fixed-capacity byte buffer that remembers how much of it is used.
///
/// Signed messages are produced into these so that neither the lock nor the issuing
/// side needs an allocator.
#[derive(Clone)]
pub struct FixedBytes<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBytes<N> {
    pub(crate) const fn empty() -> Self {
        Self { buf: [0; N], len: 0 }
    }

    /// Runs `fill` on the whole buffer; `fill` returns how many bytes it wrote.
    pub(crate) fn fill_with(fill: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>) -> Result<Self, EncodeError> {
        let mut out = Self::empty();
        let len = fill(&mut out.buf)?;
        if len > N {
            return Err(EncodeError::BufferTooSmall);
        }
        out.len = len;
        Ok(out)
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self, EncodeError> {
        Self::fill_with(|buf| {
            let dst = buf.get_mut(..bytes.len()).ok_or(EncodeError::BufferTooSmall)?;
            dst.copy_from_slice(bytes);
            Ok(bytes.len())
        })
    }

    /// The bytes in use.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Number of bytes in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the bytes into a `Vec`.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl<const N: usize> AsRef<[u8]> for FixedBytes<N> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> core::fmt::Debug for FixedBytes<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FixedBytes({} bytes)", self.len)
    }
}

impl<const N: usize> PartialEq for FixedBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for FixedBytes<N> {}
