//! `std::net::SocketAddr` <-> C `sockaddr`, in one place (TCP, UDP and DNS use it).

use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::ffi;

/// A `sockaddr_storage` holding `addr`, and the length of the part that is used.
pub(crate) fn to_sockaddr(addr: &SocketAddr) -> (ffi::sockaddr_storage, ffi::socklen_t) {
    // SAFETY: sockaddr_storage is plain C data; all-zero is a valid value.
    let mut ss: ffi::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = ffi::sockaddr_in {
                sin_family: libc::AF_INET as ffi::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: ffi::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for any sockaddr type.
            unsafe { std::ptr::write((&raw mut ss).cast::<ffi::sockaddr_in>(), sin) };
            std::mem::size_of::<ffi::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = ffi::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as ffi::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: ffi::in6_addr {
                    __in6_u: ffi::in6_addr__bindgen_ty_1 {
                        __u6_addr8: a.ip().octets(),
                    },
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((&raw mut ss).cast::<ffi::sockaddr_in6>(), sin6) };
            std::mem::size_of::<ffi::sockaddr_in6>()
        }
    };
    (ss, len as ffi::socklen_t)
}

/// The address in `sa`, or `None` for null or a family other than IPv4/IPv6.
///
/// # Safety
///
/// `sa` is null or points to a readable `sockaddr` whose length fits its family
/// (`sockaddr_in` for `AF_INET`, `sockaddr_in6` for `AF_INET6`).
pub(crate) unsafe fn from_sockaddr(sa: *const ffi::sockaddr) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: per the contract `sa` is readable and its family says which struct it is;
    // read_unaligned copes with any alignment.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = std::ptr::read_unaligned(sa.cast::<ffi::sockaddr_in>());
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                let sin6 = std::ptr::read_unaligned(sa.cast::<ffi::sockaddr_in6>());
                let ip = Ipv6Addr::from(sin6.sin6_addr.__in6_u.__u6_addr8);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Reads an address with a getsockname-like call `f(sockaddr, len)`.
pub(crate) fn read_sockaddr(
    f: impl FnOnce(*mut ffi::sockaddr, *mut i32) -> crate::Result<i32>,
) -> crate::Result<SocketAddr> {
    // SAFETY: sockaddr_storage is plain C data; all-zero is a valid value.
    let mut ss: ffi::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut len = std::mem::size_of::<ffi::sockaddr_storage>() as i32;
    f((&raw mut ss).cast(), &mut len)?;
    // SAFETY: `ss` is a zeroed or filled sockaddr_storage, large enough for any family.
    unsafe { from_sockaddr((&raw const ss).cast()) }.ok_or(crate::Error::EAFNOSUPPORT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: SocketAddr) -> SocketAddr {
        let (storage, len) = to_sockaddr(&a);
        let expect = if a.is_ipv4() {
            std::mem::size_of::<ffi::sockaddr_in>()
        } else {
            std::mem::size_of::<ffi::sockaddr_in6>()
        };
        assert_eq!(len as usize, expect);
        // SAFETY: `storage` was just filled by to_sockaddr.
        unsafe { from_sockaddr((&raw const storage).cast()) }.unwrap()
    }

    #[test]
    fn v4_round_trip() {
        for a in [
            "127.0.0.1:80",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.1.2.3:4567",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(round_trip(a), a);
        }
    }

    #[test]
    fn v4_layout_is_network_order() {
        let (storage, _) = to_sockaddr(&"1.2.3.4:258".parse().unwrap());
        // SAFETY: to_sockaddr wrote a sockaddr_in at the start of the storage.
        let sin = unsafe { &*(&raw const storage).cast::<ffi::sockaddr_in>() };
        assert_eq!(sin.sin_port.to_ne_bytes(), [1, 2]);
        assert_eq!(sin.sin_addr.s_addr.to_ne_bytes(), [1, 2, 3, 4]);
        assert_eq!(i32::from(sin.sin_family), libc::AF_INET);
    }

    #[test]
    fn v6_round_trip_with_scope_and_flowinfo() {
        let a = SocketAddr::V6(SocketAddrV6::new(
            "fe80::1:2:3:4".parse().unwrap(),
            8080,
            0x000a_bcde,
            7,
        ));
        let b = round_trip(a);
        assert_eq!(b, a);
        let SocketAddr::V6(b6) = b else {
            panic!("not v6")
        };
        assert_eq!(b6.scope_id(), 7);
        assert_eq!(b6.flowinfo(), 0x000a_bcde);
        let lo: SocketAddr = "[::1]:1".parse().unwrap();
        assert_eq!(round_trip(lo), lo);
    }

    #[test]
    fn null_and_unknown_family() {
        // SAFETY: null is allowed.
        assert_eq!(unsafe { from_sockaddr(std::ptr::null()) }, None);
        // SAFETY: all-zero is a valid sockaddr_storage (family AF_UNSPEC).
        let mut s: ffi::sockaddr_storage = unsafe { std::mem::zeroed() };
        // SAFETY: `s` is a valid sockaddr_storage.
        assert_eq!(unsafe { from_sockaddr((&raw const s).cast()) }, None);
        s.ss_family = libc::AF_UNIX as ffi::sa_family_t;
        // SAFETY: as above.
        assert_eq!(unsafe { from_sockaddr((&raw const s).cast()) }, None);
    }
}
