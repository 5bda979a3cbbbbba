//! Turning off segmentation offloads on lab interfaces (what `ethtool -K IF tso off gso off`
//! does), so oversized frames are real on the wire: a veth hands a GSO super-packet to its peer
//! without checking the peer's MTU, which would hide every MTU fault.

use std::ffi::CString;

use anyhow::{Context, Result, bail};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_STSO: u32 = 0x0000_001f;
const ETHTOOL_SGSO: u32 = 0x0000_0024;
const ETHTOOL_SGRO: u32 = 0x0000_002c;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfreqData {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// Disable TSO, GSO and GRO on `ifname` in the calling thread's network namespace.
pub fn disable_offloads(ifname: &str) -> Result<()> {
    let cname = CString::new(ifname).context("interface name")?;
    if cname.as_bytes().len() >= libc::IFNAMSIZ {
        bail!("interface name {ifname} too long");
    }
    // SAFETY: plain socket(2) call; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket for ethtool ioctl");
    }
    let mut result = Ok(());
    for cmd in [ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO] {
        let mut val = EthtoolValue { cmd, data: 0 };
        let mut ifr = IfreqData {
            name: [0; libc::IFNAMSIZ],
            data: (&mut val as *mut EthtoolValue).cast(),
            _pad: [0; 16],
        };
        for (d, s) in ifr.name.iter_mut().zip(cname.as_bytes()) {
            *d = *s as libc::c_char;
        }
        // SAFETY: ifr is a valid ifreq whose data points at a live ethtool_value.
        let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut ifr) };
        if rc != 0 {
            result = Err(std::io::Error::last_os_error())
                .with_context(|| format!("ethtool ioctl {cmd:#x} on {ifname}"));
            break;
        }
    }
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    result
}
