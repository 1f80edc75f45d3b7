//! The argument and result types of the DNS functions.

use std::net::SocketAddr;

use crate::ffi;

flag_set! {
    /// `AI_*` flags for [`Hints`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo, AiFlags, Hints};
    ///
    /// let lp = uvio::Loop::new()?;
    /// // PASSIVE and no host: the wildcard address, for a server to bind.
    /// let hints = Hints::new().flags(AiFlags::PASSIVE | AiFlags::NUMERICSERV);
    /// let found = lp.block_on(getaddrinfo(None, Some("8080"), hints))??;
    /// assert!(found.iter().any(|a| a.addr.ip().is_unspecified()));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    AiFlags {
        /// Addresses for `bind` (the wildcard address when there is no host).
        PASSIVE = libc::AI_PASSIVE,
        /// Ask for the canonical name ([`AddrInfo::canonical_name`] of the first result).
        CANONNAME = libc::AI_CANONNAME,
        /// The host must be a numeric address: never look it up.
        NUMERICHOST = libc::AI_NUMERICHOST,
        /// The service must be a port number.
        NUMERICSERV = libc::AI_NUMERICSERV,
        /// Return IPv4-mapped IPv6 addresses when asking for IPv6 and there are none.
        V4MAPPED = libc::AI_V4MAPPED,
        /// With `V4MAPPED`: return both IPv6 and mapped IPv4 addresses.
        ALL = libc::AI_ALL,
        /// Only families the host has a (non-loopback) address of.
        ADDRCONFIG = libc::AI_ADDRCONFIG,
    }
}

flag_set! {
    /// `NI_*` flags for [`getnameinfo`](super::getnameinfo).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getnameinfo, NiFlags};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let flags = NiFlags::NUMERICHOST | NiFlags::NUMERICSERV | NiFlags::DGRAM;
    /// let n = lp.block_on(getnameinfo("127.0.0.1:53".parse().unwrap(), flags))??;
    /// assert_eq!((n.host.as_str(), n.service.as_str()), ("127.0.0.1", "53"));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    NiFlags {
        /// Return the address in numeric form instead of a name.
        NUMERICHOST = libc::NI_NUMERICHOST,
        /// Return the port number instead of a service name.
        NUMERICSERV = libc::NI_NUMERICSERV,
        /// Only the host part of a local name.
        NOFQDN = libc::NI_NOFQDN,
        /// Fail (`EAI_NONAME`) when the address has no name.
        NAMEREQD = libc::NI_NAMEREQD,
        /// The service is a datagram (UDP) one.
        DGRAM = libc::NI_DGRAM,
    }
}

/// An address family to ask [`getaddrinfo`](super::getaddrinfo) for.
///
/// # Examples
///
/// ```
/// use uvio::dns::{getaddrinfo, Family, Hints};
/// let lp = uvio::Loop::new()?;
/// let hints = Hints::new().family(Family::Ipv6);
/// let found = lp.block_on(getaddrinfo(Some("::1"), None, hints))??;
/// assert!(found.iter().all(|a| a.addr.is_ipv6()));
/// assert_eq!(Family::default(), Family::Any);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 and IPv6 (`AF_UNSPEC`).
    #[default]
    Any,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// A socket type, in [`Hints`] and [`AddrInfo`].
///
/// # Examples
///
/// ```
/// use uvio::dns::{getaddrinfo, Hints, SockType};
/// let lp = uvio::Loop::new()?;
/// let hints = Hints::new().socktype(SockType::Stream);
/// let found = lp.block_on(getaddrinfo(Some("127.0.0.1"), Some("80"), hints))??;
/// assert!(found.iter().all(|a| a.socktype == SockType::Stream));
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SockType {
    /// Any type (in hints: every type is returned, so each address appears once per type).
    #[default]
    Any,
    /// `SOCK_STREAM` (TCP).
    Stream,
    /// `SOCK_DGRAM` (UDP).
    Datagram,
    /// `SOCK_RAW`.
    Raw,
}

impl SockType {
    fn raw(self) -> i32 {
        match self {
            SockType::Any => 0,
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Datagram => libc::SOCK_DGRAM,
            SockType::Raw => libc::SOCK_RAW,
        }
    }

    pub(super) fn from_raw(v: i32) -> SockType {
        match v {
            libc::SOCK_STREAM => SockType::Stream,
            libc::SOCK_DGRAM => SockType::Datagram,
            libc::SOCK_RAW => SockType::Raw,
            _ => SockType::Any,
        }
    }
}

/// What [`getaddrinfo`](super::getaddrinfo) should return: family, socket type, protocol
/// and `AI_*` flags.
///
/// # Examples
///
/// ```
/// use uvio::dns::{AiFlags, Family, Hints, SockType};
///
/// let h = Hints::new()
///     .family(Family::Ipv4)
///     .socktype(SockType::Datagram)
///     .flags(AiFlags::NUMERICHOST);
/// assert!(h.get_flags().contains(AiFlags::NUMERICHOST));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hints {
    family: Family,
    socktype: SockType,
    protocol: i32,
    flags: AiFlags,
}

impl Hints {
    /// Any family, any socket type, no flags.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = uvio::dns::Hints::new();
    /// assert_eq!(h, uvio::dns::Hints::default());
    /// assert_eq!(h.get_flags().bits(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new() -> Hints {
        Hints::default()
    }

    /// Restricts the address family.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo, Family, Hints};
    /// let lp = uvio::Loop::new()?;
    /// let hints = Hints::new().family(Family::Ipv4);
    /// let found = lp.block_on(getaddrinfo(Some("127.0.0.1"), None, hints))??;
    /// assert!(found.iter().all(|a| a.addr.is_ipv4()));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn family(mut self, family: Family) -> Hints {
        self.family = family;
        self
    }

    /// Restricts the socket type.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo, Hints, SockType};
    /// let lp = uvio::Loop::new()?;
    /// let hints = Hints::new().socktype(SockType::Datagram);
    /// let found = lp.block_on(getaddrinfo(Some("127.0.0.1"), Some("53"), hints))??;
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].socktype, SockType::Datagram);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn socktype(mut self, socktype: SockType) -> Hints {
        self.socktype = socktype;
        self
    }

    /// Restricts the protocol (`IPPROTO_*`; 0 for any).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo, Hints};
    /// let lp = uvio::Loop::new()?;
    /// let hints = Hints::new().protocol(libc::IPPROTO_UDP);
    /// let found = lp.block_on(getaddrinfo(Some("127.0.0.1"), Some("53"), hints))??;
    /// assert!(found.iter().all(|a| a.protocol == libc::IPPROTO_UDP));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn protocol(mut self, protocol: i32) -> Hints {
        self.protocol = protocol;
        self
    }

    /// Sets the `AI_*` flags.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo, AiFlags, Hints};
    /// let lp = uvio::Loop::new()?;
    /// let hints = Hints::new().flags(AiFlags::NUMERICHOST);
    /// // A name is refused: only numeric hosts, never a lookup.
    /// assert!(lp.block_on(getaddrinfo(Some("localhost"), None, hints))?.is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn flags(mut self, flags: AiFlags) -> Hints {
        self.flags = flags;
        self
    }

    /// The flags set with [`Hints::flags`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{AiFlags, Hints};
    /// let h = Hints::new().flags(AiFlags::PASSIVE | AiFlags::NUMERICSERV);
    /// assert!(h.get_flags().contains(AiFlags::PASSIVE));
    /// assert!(!h.get_flags().contains(AiFlags::CANONNAME));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn get_flags(&self) -> AiFlags {
        self.flags
    }

    pub(super) fn raw(&self) -> ffi::addrinfo {
        ffi::addrinfo {
            ai_flags: self.flags.bits(),
            ai_family: match self.family {
                Family::Any => libc::AF_UNSPEC,
                Family::Ipv4 => libc::AF_INET,
                Family::Ipv6 => libc::AF_INET6,
            },
            ai_socktype: self.socktype.raw(),
            ai_protocol: self.protocol,
            ai_addrlen: 0,
            ai_addr: std::ptr::null_mut(),
            ai_canonname: std::ptr::null_mut(),
            ai_next: std::ptr::null_mut(),
        }
    }
}

/// One result of [`getaddrinfo`](super::getaddrinfo).
///
/// # Examples
///
/// ```
/// use uvio::dns::{getaddrinfo, AddrInfo, Hints, SockType};
/// let lp = uvio::Loop::new()?;
/// let hints = Hints::new().socktype(SockType::Stream);
/// let found: Vec<AddrInfo> = lp.block_on(getaddrinfo(Some("127.0.0.1"), Some("8080"), hints))??;
/// assert_eq!(found[0].addr, "127.0.0.1:8080".parse().unwrap());
/// assert_eq!(found[0].protocol, libc::IPPROTO_TCP);
/// assert_eq!(found[0].canonical_name, None);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AddrInfo {
    /// The address, with the service's port (0 without a service).
    pub addr: SocketAddr,
    /// The socket type this address is for.
    pub socktype: SockType,
    /// The protocol (`IPPROTO_TCP`, `IPPROTO_UDP`, ...).
    pub protocol: i32,
    /// The canonical name, when [`AiFlags::CANONNAME`] was asked for (first result only).
    pub canonical_name: Option<String>,
}

/// The result of [`getnameinfo`](super::getnameinfo).
///
/// # Examples
///
/// ```
/// use uvio::dns::{getnameinfo, NameInfo, NiFlags};
/// let lp = uvio::Loop::new()?;
/// let flags = NiFlags::NUMERICHOST | NiFlags::NUMERICSERV;
/// let n: NameInfo = lp.block_on(getnameinfo("[::1]:22".parse().unwrap(), flags))??;
/// assert_eq!(n.host, "::1");
/// assert_eq!(n.service, "22");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameInfo {
    /// The host name (or numeric address).
    pub host: String,
    /// The service name (or port number).
    pub service: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_debug_and_ops() {
        let f = AiFlags::PASSIVE | AiFlags::NUMERICHOST;
        assert!(f.contains(AiFlags::PASSIVE));
        assert!(!f.contains(AiFlags::CANONNAME));
        let s = format!("{f:?}");
        assert!(s.contains("PASSIVE") && s.contains("NUMERICHOST"), "{s}");
        assert_eq!(AiFlags::empty().bits(), 0);
    }
}
