//! A minimal netlink client of our own: attribute building and walking (pure), and a blocking
//! socket that sends one request and collects the answers (a dump or an ack).
//!
//! Hand-rolled on purpose: conntrack needs attributes `netlink-packet-netfilter` 0.4 does not
//! decode (counters, zone, id, use), and links/neighbours are two small dumps that do not justify
//! an async runtime (`rtnetlink`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{NodeError, Result};

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// Flag bits carried in an attribute's type.
const NLA_TYPE_MASK: u16 = 0x3fff;
pub const NLA_F_NESTED: u16 = 0x8000;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds attributes into a byte buffer (netlink TLVs, 4-byte aligned, host-order header).
#[derive(Default, Debug, Clone)]
pub struct AttrBuf {
    pub bytes: Vec<u8>,
}

impl AttrBuf {
    pub fn new() -> AttrBuf {
        AttrBuf::default()
    }

    /// One attribute with a raw value.
    pub fn put(&mut self, ty: u16, value: &[u8]) -> &mut Self {
        let len = 4 + value.len();
        // Attribute lengths are u16; our values are a few bytes.
        self.bytes
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.bytes.resize(align4(self.bytes.len()), 0);
        self
    }

    /// A nested attribute (NLA_F_NESTED set) holding what `f` builds.
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut AttrBuf)) -> &mut Self {
        let mut inner = AttrBuf::new();
        f(&mut inner);
        self.put(ty | NLA_F_NESTED, &inner.bytes)
    }
}

/// Walk the attributes in `buf`: (type without flag bits, value). Stops at the first malformed
/// attribute rather than failing: a truncated tail is ignored.
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let value = &rest[4..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((ty, value))
    })
}

/// A whole netlink message: header + payload.
pub fn message(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    v.extend_from_slice(&msg_type.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(payload);
    v
}

/// One received message: its type, flags, sequence and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: Vec<u8>,
}

/// Split a datagram into messages.
pub fn split(buf: &[u8]) -> Result<Vec<Msg>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(NodeError::Malformed {
                what: "netlink message",
                why: format!("length {len} with {} bytes left", rest.len()),
            });
        }
        out.push(Msg {
            msg_type: u16::from_ne_bytes([rest[4], rest[5]]),
            flags: u16::from_ne_bytes([rest[6], rest[7]]),
            seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
            payload: rest[NLMSG_HDRLEN..len].to_vec(),
        });
        rest = &rest[align4(len).min(rest.len())..];
    }
    Ok(out)
}

/// The errno of an NLMSG_ERROR payload (0 = ack).
pub fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

/// A blocking netlink socket in the calling thread's network namespace.
pub struct NlSocket {
    fd: OwnedFd,
    seq: u32,
    what: &'static str,
}

impl NlSocket {
    /// `protocol`: NETLINK_NETFILTER or NETLINK_ROUTE. `what` names it in errors.
    pub fn open(protocol: i32, what: &'static str) -> Result<NlSocket> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(NodeError::last_os(format!("open {what} netlink socket")));
        }
        // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A dump answer can be large (one datagram holds many entries); give it room.
        let size: libc::c_int = 4 << 20;
        // SAFETY: valid fd, option value pointer and size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(NlSocket { fd, seq: 1, what })
    }

    /// Send one request and collect the answer's messages (everything up to NLMSG_DONE for a
    /// dump, or up to the ack). A kernel error becomes `NodeError::Netlink`.
    pub fn request(
        &mut self,
        msg_type: u16,
        flags: u16,
        payload: &[u8],
        op: &str,
    ) -> Result<Vec<Msg>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = message(msg_type, flags, seq, payload);
        // SAFETY: sockaddr_nl is plain data; all-zero = the kernel as destination.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and sa are valid for the sizes passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(NodeError::last_os(format!(
                "{op}: send to {} netlink",
                self.what
            )));
        }
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 17];
        loop {
            // SAFETY: buf is valid for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NodeError::os(
                    format!("{op}: receive from {} netlink", self.what),
                    e,
                ));
            }
            let n = usize::try_from(n).unwrap_or(0);
            for m in split(&buf[..n])? {
                if m.seq != seq {
                    continue;
                }
                match m.msg_type {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = error_code(&m.payload);
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(NodeError::Netlink {
                            op: op.to_string(),
                            source: std::io::Error::from_raw_os_error(-code),
                        });
                    }
                    _ => {
                        let multi = m.flags & NLM_F_MULTI != 0;
                        out.push(m);
                        if !dump && !multi && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_aligned_and_walk_back() {
        let mut b = AttrBuf::new();
        b.put(1, &[7]).nest(2, |n| {
            n.put(3, &[1, 2, 3, 4]);
        });
        let ne = |v: u16| v.to_ne_bytes();
        let mut want = Vec::new();
        want.extend_from_slice(&ne(5));
        want.extend_from_slice(&ne(1));
        want.extend_from_slice(&[7, 0, 0, 0]);
        want.extend_from_slice(&ne(12));
        want.extend_from_slice(&ne(2 | NLA_F_NESTED));
        want.extend_from_slice(&ne(8));
        want.extend_from_slice(&ne(3));
        want.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(b.bytes, want);
        let got: Vec<(u16, Vec<u8>)> = attrs(&b.bytes).map(|(t, v)| (t, v.to_vec())).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (1, vec![7]));
        assert_eq!(got[1].0, 2);
        let inner: Vec<_> = attrs(&got[1].1).collect();
        assert_eq!(inner, vec![(3u16, &[1u8, 2, 3, 4][..])]);
    }

    #[test]
    fn truncated_attribute_stops_the_walk() {
        let mut b = AttrBuf::new();
        b.put(1, &[1, 2, 3, 4]);
        let mut bytes = b.bytes.clone();
        bytes.extend_from_slice(&[40, 0, 5, 0, 1]);
        assert_eq!(attrs(&bytes).count(), 1);
    }

    #[test]
    fn messages_split_and_bad_lengths_are_errors() {
        let mut two = message(0x101, NLM_F_MULTI, 9, &[1, 2, 3]);
        two.resize(align4(two.len()), 0);
        two.extend_from_slice(&message(NLMSG_DONE, NLM_F_MULTI, 9, &[0, 0, 0, 0]));
        let m = split(&two).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].msg_type, 0x101);
        assert_eq!(m[0].payload, vec![1, 2, 3]);
        assert_eq!(m[1].msg_type, NLMSG_DONE);
        let mut bad = message(1, 0, 1, &[]);
        bad[0] = 200;
        assert!(split(&bad).is_err());
    }
}
