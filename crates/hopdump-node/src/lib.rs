//! Node evidence that needs the operating system — who answers ARP/NDP for an IP (AF_PACKET),
//! the conntrack table (ctnetlink), links and neighbour tables (rtnetlink) — and, in
//! `analysis`, the pure findings over that evidence that `trace` reuses.
//!
//! Every OS-facing function works in the calling thread's network namespace; `in_netns` runs a
//! closure on a thread that entered another one (sockets opened there stay there).

pub mod analysis;
pub mod arp;
pub mod conntrack;
pub mod ctnetlink;
pub mod cttext;
pub mod error;
pub mod frames;
pub mod netlink;
pub mod rawsock;
pub mod rtnl;

pub use error::{NodeError, Result};
pub use hopdump_capture::Netns;

/// Run `f` on a new thread inside `netns` (the current namespace: no switch) and return its
/// result; `what` names the user in errors.
pub fn in_netns<T: Send + 'static>(
    netns: &Netns,
    what: &'static str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let netns = netns.clone();
    std::thread::spawn(move || -> Result<T> {
        hopdump_capture::netns::enter_ns(&netns, what)?;
        f()
    })
    .join()
    .map_err(|_| NodeError::Thread(what))?
}
