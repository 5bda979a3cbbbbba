//! An AF_PACKET socket bound to one interface and ethertype: send whole frames, receive frames
//! with a timeout and the kernel's packet type (ours going out are skipped).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{NodeError, Result};

pub struct RawSock {
    fd: OwnedFd,
    ifindex: i32,
    ifname: String,
}

fn zeroed_sll() -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

impl RawSock {
    /// Open on `ifindex` for ethertype `proto`; `promisc` also sees unicast frames between
    /// other hosts (the watch mode's view of replies to other askers).
    pub fn open(ifname: &str, ifindex: u32, proto: u16, promisc: bool) -> Result<RawSock> {
        let ifindex = i32::try_from(ifindex).map_err(|_| NodeError::NoRoute {
            what: format!("interface index {ifindex} out of range"),
        })?;
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto.to_be()),
            )
        };
        if fd < 0 {
            return Err(NodeError::last_os(format!(
                "open packet socket on {ifname}"
            )));
        }
        // SAFETY: fd was just returned by socket(2).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut sll = zeroed_sll();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(NodeError::last_os(format!(
                "bind packet socket to {ifname}"
            )));
        }
        if promisc {
            // SAFETY: packet_mreq is plain data.
            let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mr.mr_ifindex = ifindex;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            // SAFETY: valid fd and option struct; the membership ends when the socket closes.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_ADD_MEMBERSHIP,
                    (&mr as *const libc::packet_mreq).cast(),
                    std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(NodeError::last_os(format!("promiscuous mode on {ifname}")));
            }
        }
        Ok(RawSock {
            fd,
            ifindex,
            ifname: ifname.to_string(),
        })
    }

    /// Wait up to `timeout_ms` for one frame; None on timeout. Frames this host sends are
    /// skipped unless `outgoing` (a watcher wants its own host's requests too).
    pub fn recv(&self, buf: &mut [u8], timeout_ms: i32, outgoing: bool) -> Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(NodeError::os(
                format!("poll packet socket on {}", self.ifname),
                e,
            ));
        }
        if n == 0 {
            return Ok(None);
        }
        let mut sll = zeroed_sll();
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and sll are valid for the sizes passed.
        let got = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if got < 0 || (!outgoing && sll.sll_pkttype == libc::PACKET_OUTGOING) {
            return Ok(None);
        }
        Ok(Some(usize::try_from(got).unwrap_or(0)))
    }

    /// Send one whole Ethernet frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        let mut sll = zeroed_sll();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        if let Some(dst) = frame.get(..6) {
            sll.sll_addr[..6].copy_from_slice(dst);
        }
        // SAFETY: frame and sll are valid for the sizes passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(NodeError::last_os(format!("send on {}", self.ifname)));
        }
        Ok(())
    }
}
