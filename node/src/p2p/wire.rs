//! The sync protocol's messages and their byte encoding. Every length is bounded before
//! anything is allocated, so a peer can make us read at most [`MAX_MESSAGE_BYTES`] per message.
//!
//! Framing: `u32` little-endian body length, then the body: a one-byte tag and the fields.
//! Share ids are 32 bytes in their internal (hash) order.

use bitcoin::hashes::Hash;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use otedama_consensus::pool::limits::MAX_UNCLES;
use otedama_consensus::share::{MAX_PAYOUT_SCRIPT_LEN, MAX_SHARE_BYTES};
use otedama_consensus::ShareHash;
use std::io;

/// Most locator entries one request carries: a locator is O(log n) ids, 64 covers 2^54 shares.
pub const MAX_LOCATOR: usize = 64;
/// Most ids one `Headers` reply carries (as many as the store answers in one batch).
pub const MAX_HEADERS: usize = otedama_sharechain::chain::MAX_HEADERS_PER_REPLY;
/// Most shares asked for (and answered) in one request: 64 regtest shares are ~30 kB, 64 main
/// shares (~9 kB each with 200 outputs) ~600 kB, so one reply stays well under a second even on
/// a slow link and several peers can serve one sync in parallel.
pub const MAX_SHARES_PER_REQUEST: usize = 64;
/// Largest reply body: `MAX_SHARES_PER_REQUEST` shares at the largest encoding would be 5.3 MB;
/// a reply stops adding shares before passing 8 MiB.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// Largest index entry a `Base` reply carries (`otedama_sharechain::codec::encode_info`): format,
/// id, prev, height, timestamp, bits, work, cumulative work, anchor height and time, parent
/// height, payout script, uncle count and `MAX_UNCLES` uncles (id, script, work), skip.
pub const MAX_BASE_INFO_BYTES: usize = 1
    + 32
    + 32
    + 8
    + 8
    + 4
    + 16
    + 16
    + 8
    + 8
    + 4
    + (1 + MAX_PAYOUT_SCRIPT_LEN)
    + 1
    + MAX_UNCLES * (32 + 1 + MAX_PAYOUT_SCRIPT_LEN + 16)
    + 32;

// A base reply (a share and an index entry at their bounds) fits one message.
const _: () = assert!(MAX_BASE_INFO_BYTES + MAX_SHARE_BYTES + 64 < MAX_MESSAGE_BYTES);

/// A question to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Ids of the peer's best chain after the first locator entry it has on that chain.
    GetHeaders { locator: Vec<ShareHash>, max: u16 },
    /// Share bodies by id.
    GetShares { ids: Vec<ShareHash> },
    /// A trusted base (docs/consensus.md section 13): a share of the peer's best chain at least
    /// two windows below its tip, with its index entry. Tag 2: a peer that predates it cannot
    /// decode the request and refuses it, it never misreads it.
    GetBase,
}

/// A trusted base as it travels: the encoded share and its encoded index entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseData {
    /// Canonical share encoding, at most `MAX_SHARE_BYTES`.
    pub share: Vec<u8>,
    /// Index entry (`otedama_sharechain::codec`), at most [`MAX_BASE_INFO_BYTES`].
    pub info: Vec<u8>,
}

/// The tip of the answering peer's best chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TipInfo {
    pub id: ShareHash,
    pub height: u64,
    pub cumulative_work: u128,
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `ids` are consecutive shares of the peer's best chain from `start_height`; `tip` is that
    /// chain's tip (none when the peer has no shares).
    Headers {
        tip: Option<TipInfo>,
        start_height: u64,
        ids: Vec<ShareHash>,
    },
    /// Encoded shares, in request order; ids the peer does not have are left out.
    Shares { shares: Vec<Vec<u8>> },
    /// The peer refuses to answer now (rate limit); ask someone else or later.
    Busy,
    /// The answer to `GetBase`: the peer's tip and a base, none when its chain is shorter than
    /// two windows or that part is not stored.
    Base {
        tip: Option<TipInfo>,
        base: Option<BaseData>,
    },
}

/// Why bytes are not a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("message truncated")]
    Truncated,
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    #[error("{what}: {count} exceeds the limit {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("trailing bytes after the message")]
    Trailing,
}

impl From<WireError> for io::Error {
    fn from(e: WireError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.bytes.len() < n {
            return Err(WireError::Truncated);
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn u128(&mut self) -> Result<u128, WireError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(u128::from_le_bytes(a))
    }
    fn id(&mut self) -> Result<ShareHash, WireError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(ShareHash::from_byte_array(a))
    }
    /// A count prefix checked against `max` before anything is allocated.
    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, WireError> {
        let count = self.u32()? as usize;
        if count > max {
            return Err(WireError::TooMany { what, count, max });
        }
        Ok(count)
    }
    fn ids(&mut self, what: &'static str, max: usize) -> Result<Vec<ShareHash>, WireError> {
        let n = self.count(what, max)?;
        (0..n).map(|_| self.id()).collect()
    }
    fn end(&self) -> Result<(), WireError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing)
        }
    }
}

fn put_ids(out: &mut Vec<u8>, ids: &[ShareHash]) {
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(id.as_byte_array());
    }
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Request::GetHeaders { locator, max } => {
                out.push(0);
                put_ids(&mut out, &locator[..locator.len().min(MAX_LOCATOR)]);
                out.extend_from_slice(&max.to_le_bytes());
            }
            Request::GetShares { ids } => {
                out.push(1);
                put_ids(&mut out, &ids[..ids.len().min(MAX_SHARES_PER_REQUEST)]);
            }
            Request::GetBase => out.push(2),
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        let mut r = Reader { bytes };
        let req = match r.u8()? {
            0 => Request::GetHeaders {
                locator: r.ids("locator entries", MAX_LOCATOR)?,
                max: r.u16()?,
            },
            1 => Request::GetShares {
                ids: r.ids("share ids", MAX_SHARES_PER_REQUEST)?,
            },
            2 => Request::GetBase,
            t => return Err(WireError::UnknownTag(t)),
        };
        r.end()?;
        Ok(req)
    }
}

impl Response {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Response::Headers {
                tip,
                start_height,
                ids,
            } => {
                out.push(0);
                put_tip(&mut out, tip);
                out.extend_from_slice(&start_height.to_le_bytes());
                put_ids(&mut out, &ids[..ids.len().min(MAX_HEADERS)]);
            }
            Response::Shares { shares } => {
                out.push(1);
                let mut body = Vec::new();
                let mut n = 0u32;
                for s in shares.iter().take(MAX_SHARES_PER_REQUEST) {
                    if s.len() > MAX_SHARE_BYTES || body.len() + s.len() + 64 > MAX_MESSAGE_BYTES {
                        break;
                    }
                    body.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    body.extend_from_slice(s);
                    n += 1;
                }
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(&body);
            }
            Response::Busy => out.push(2),
            Response::Base { tip, base } => {
                out.push(3);
                put_tip(&mut out, tip);
                match base {
                    Some(b)
                        if b.share.len() <= MAX_SHARE_BYTES
                            && b.info.len() <= MAX_BASE_INFO_BYTES =>
                    {
                        out.push(1);
                        out.extend_from_slice(&(b.share.len() as u32).to_le_bytes());
                        out.extend_from_slice(&b.share);
                        out.extend_from_slice(&(b.info.len() as u32).to_le_bytes());
                        out.extend_from_slice(&b.info);
                    }
                    // Over the limits (never for a share we stored): as good as none.
                    _ => out.push(0),
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Response, WireError> {
        let mut r = Reader { bytes };
        let resp = match r.u8()? {
            0 => {
                let tip = read_tip(&mut r)?;
                Response::Headers {
                    tip,
                    start_height: r.u64()?,
                    ids: r.ids("header ids", MAX_HEADERS)?,
                }
            }
            1 => {
                let n = r.count("shares", MAX_SHARES_PER_REQUEST)?;
                let mut shares = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = r.count("share bytes", MAX_SHARE_BYTES)?;
                    shares.push(r.take(len)?.to_vec());
                }
                Response::Shares { shares }
            }
            2 => Response::Busy,
            3 => {
                let tip = read_tip(&mut r)?;
                let base = match r.u8()? {
                    0 => None,
                    1 => {
                        let n = r.count("base share bytes", MAX_SHARE_BYTES)?;
                        let share = r.take(n)?.to_vec();
                        let n = r.count("base index bytes", MAX_BASE_INFO_BYTES)?;
                        let info = r.take(n)?.to_vec();
                        Some(BaseData { share, info })
                    }
                    t => return Err(WireError::UnknownTag(t)),
                };
                Response::Base { tip, base }
            }
            t => return Err(WireError::UnknownTag(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

fn put_tip(out: &mut Vec<u8>, tip: &Option<TipInfo>) {
    match tip {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(t.id.as_byte_array());
            out.extend_from_slice(&t.height.to_le_bytes());
            out.extend_from_slice(&t.cumulative_work.to_le_bytes());
        }
        None => out.push(0),
    }
}

fn read_tip(r: &mut Reader<'_>) -> Result<Option<TipInfo>, WireError> {
    Ok(match r.u8()? {
        0 => None,
        1 => Some(TipInfo {
            id: r.id()?,
            height: r.u64()?,
            cumulative_work: r.u128()?,
        }),
        t => return Err(WireError::UnknownTag(t)),
    })
}

/// Reads one length-prefixed frame of at most `max` bytes.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(WireError::TooLarge(len).into());
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    io.write_all(&(body.len() as u32).to_le_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

/// Largest request frame: a full locator.
pub const MAX_REQUEST_BYTES: usize = 1 + 4 + 32 * MAX_LOCATOR + 2 + 4 + 32 * MAX_SHARES_PER_REQUEST;

/// The request-response codec of the sync protocol.
///
/// Inbound requests come up as `Result`s: request-response reports nothing at all for a request
/// its codec fails to read, so a request that does not decode (or a frame over the limit) is
/// handed up as `Err` for the swarm task to penalise its sender. Outbound requests are always
/// `Ok`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Result<Request, WireError>;
    type Response = Response;

    async fn read_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<Result<Request, WireError>>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, MAX_REQUEST_BYTES).await {
            Ok(body) => Ok(Request::decode(&body)),
            Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<WireError>()) {
                // The rest of an over-long frame is left unread.
                Some(WireError::TooLarge(n)) => Ok(Err(WireError::TooLarge(*n))),
                _ => Err(e),
            },
        }
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_MESSAGE_BYTES).await?;
        Ok(Response::decode(&body)?)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Result<Request, WireError>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req?.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> ShareHash {
        ShareHash::from_byte_array([n; 32])
    }

    #[test]
    fn messages_round_trip() {
        let msgs = [
            Request::GetHeaders {
                locator: vec![id(1), id(2)],
                max: 1500,
            },
            Request::GetShares {
                ids: (0..64).map(id).collect(),
            },
            Request::GetBase,
        ];
        for m in msgs {
            assert_eq!(Request::decode(&m.encode()), Ok(m));
        }
        let resps = [
            Response::Headers {
                tip: Some(TipInfo {
                    id: id(9),
                    height: 7,
                    cumulative_work: u128::MAX - 3,
                }),
                start_height: 3,
                ids: vec![id(4), id(5)],
            },
            Response::Headers {
                tip: None,
                start_height: 0,
                ids: vec![],
            },
            Response::Shares {
                shares: vec![vec![1, 2, 3], vec![]],
            },
            Response::Busy,
            Response::Base {
                tip: Some(TipInfo {
                    id: id(9),
                    height: 700,
                    cumulative_work: 5,
                }),
                base: Some(BaseData {
                    share: vec![7; 300],
                    info: vec![8; MAX_BASE_INFO_BYTES],
                }),
            },
            Response::Base {
                tip: None,
                base: None,
            },
        ];
        for m in resps {
            assert_eq!(Response::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn base_limits_are_checked_and_the_new_tags_are_refused_by_an_old_decoder() {
        // An oversized index entry is refused before it is read.
        let mut b = vec![3u8, 0, 1];
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3]);
        b.extend_from_slice(&(MAX_BASE_INFO_BYTES as u32 + 1).to_le_bytes());
        assert!(matches!(
            Response::decode(&b),
            Err(WireError::TooMany {
                what: "base index bytes",
                ..
            })
        ));
        let mut b = vec![3u8, 0, 1];
        b.extend_from_slice(&(MAX_SHARE_BYTES as u32 + 1).to_le_bytes());
        assert!(matches!(
            Response::decode(&b),
            Err(WireError::TooMany { .. })
        ));
        // Truncated and trailing bytes.
        let full = Response::Base {
            tip: None,
            base: Some(BaseData {
                share: vec![1; 10],
                info: vec![2; 10],
            }),
        }
        .encode();
        for cut in 0..full.len() {
            assert!(Response::decode(&full[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = full.clone();
        long.push(0);
        assert_eq!(Response::decode(&long), Err(WireError::Trailing));
        // The tags are new: a decoder that knows tags 0-1 (requests) and 0-2 (responses) says
        // "unknown tag" instead of reading them as something else.
        assert_eq!(Request::GetBase.encode(), vec![2]);
        assert_eq!(full[0], 3);
        // An index entry over the limit is not sent.
        let over = Response::Base {
            tip: None,
            base: Some(BaseData {
                share: vec![1],
                info: vec![2; MAX_BASE_INFO_BYTES + 1],
            }),
        };
        assert_eq!(
            Response::decode(&over.encode()),
            Ok(Response::Base {
                tip: None,
                base: None
            })
        );
    }

    #[test]
    fn counts_are_checked_before_allocating() {
        let mut b = vec![1u8];
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Request::decode(&b),
            Err(WireError::TooMany { .. })
        ));
        let mut b = vec![1u8];
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&(MAX_SHARE_BYTES as u32 + 1).to_le_bytes());
        assert!(matches!(
            Response::decode(&b),
            Err(WireError::TooMany { .. })
        ));
        assert_eq!(Request::decode(&[7]), Err(WireError::UnknownTag(7)));
        assert_eq!(Request::decode(&[]), Err(WireError::Truncated));
        let mut ok = Request::GetShares { ids: vec![id(1)] }.encode();
        ok.push(0);
        assert_eq!(Request::decode(&ok), Err(WireError::Trailing));
    }

    #[test]
    fn encoders_never_exceed_the_limits() {
        let big = Response::Shares {
            shares: vec![vec![0u8; MAX_SHARE_BYTES]; 200],
        };
        let bytes = big.encode();
        assert!(bytes.len() <= MAX_MESSAGE_BYTES);
        let Ok(Response::Shares { shares }) = Response::decode(&bytes) else {
            panic!("an encoded reply decodes");
        };
        assert_eq!(shares.len(), MAX_SHARES_PER_REQUEST);
        let req = Request::GetHeaders {
            locator: (0..200).map(|i| id(i as u8)).collect(),
            max: 1,
        };
        assert!(req.encode().len() <= MAX_REQUEST_BYTES);
    }

    #[test]
    fn frames_are_bounded() {
        futures::executor::block_on(async {
            let mut buf = Vec::new();
            write_frame(&mut futures::io::Cursor::new(&mut buf), &[1, 2, 3])
                .await
                .unwrap();
            let got = read_frame(&mut futures::io::Cursor::new(&buf), 3)
                .await
                .unwrap();
            assert_eq!(got, vec![1, 2, 3]);
            let err = read_frame(&mut futures::io::Cursor::new(&buf), 2)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        });
    }

    #[test]
    fn the_codec_hands_up_requests_that_do_not_decode() {
        use futures::io::Cursor;
        use libp2p::request_response::Codec;
        futures::executor::block_on(async {
            let p = libp2p::StreamProtocol::new("/test");
            let mut c = SyncCodec;
            let req = Request::GetShares { ids: vec![id(1)] };
            let mut buf = Vec::new();
            c.write_request(&p, &mut Cursor::new(&mut buf), Ok(req.clone()))
                .await
                .unwrap();
            let got = c.read_request(&p, &mut Cursor::new(&buf)).await.unwrap();
            assert_eq!(got, Ok(req));
            // Bytes that are not a request, and a frame over the limit: the sender's fault.
            let mut buf = Vec::new();
            write_frame(&mut Cursor::new(&mut buf), &[7]).await.unwrap();
            let got = c.read_request(&p, &mut Cursor::new(&buf)).await.unwrap();
            assert_eq!(got, Err(WireError::UnknownTag(7)));
            let big = (MAX_REQUEST_BYTES as u32 + 1).to_le_bytes();
            let got = c.read_request(&p, &mut Cursor::new(&big)).await.unwrap();
            assert_eq!(got, Err(WireError::TooLarge(MAX_REQUEST_BYTES + 1)));
            // A frame cut short is the stream failing (the connection went away).
            let cut = [5u8, 0, 0, 0, 1];
            assert!(c.read_request(&p, &mut Cursor::new(&cut)).await.is_err());
        });
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            if let Ok(r) = Request::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes.clone());
            }
            if let Ok(r) = Response::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes);
            }
        }
    }
}
