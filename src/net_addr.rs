//! Conversions between `std::net::SocketAddr` and C socket addresses.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::ffi;

/// `addr` as a C socket address (`sockaddr_in` or `sockaddr_in6` inside a
/// `sockaddr_storage`) and the length of the part that is used.
pub(crate) fn to_sockaddr(addr: &SocketAddr) -> (ffi::sockaddr_storage, u32) {
    // SAFETY: sockaddr_storage is plain C data; all-zero is a valid value.
    let mut storage: ffi::sockaddr_storage = unsafe { std::mem::zeroed() };
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
            // SAFETY: sockaddr_storage is larger than, and aligned at least as strictly as,
            // sockaddr_in (that is its purpose).
            unsafe { std::ptr::write((&raw mut storage).cast::<ffi::sockaddr_in>(), sin) };
            std::mem::size_of::<ffi::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = ffi::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as ffi::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: ffi::in6_addr {
                    __in6_u: ffi::in6_addr__bindgen_ty_1 {
                        __u6_addr8: a.ip().octets(),
                    },
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast::<ffi::sockaddr_in6>(), sin6) };
            std::mem::size_of::<ffi::sockaddr_in6>()
        }
    };
    (storage, len as u32)
}

/// The address `sa` points at, or `None` for a null pointer or a family other than
/// `AF_INET`/`AF_INET6`.
///
/// `sa` must be null or point at a socket address as libuv hands them out: a `sockaddr_in`
/// or `sockaddr_in6` (or a `sockaddr_storage`) whose `sa_family` says which.
pub(crate) fn from_sockaddr(sa: *const ffi::sockaddr) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null, and per this function's contract it points at a socket address whose
    // family field comes first; the reads below are unaligned-tolerant and sized by family.
    unsafe {
        let family = std::ptr::read_unaligned(&raw const (*sa).sa_family);
        match i32::from(family) {
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
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
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
        from_sockaddr((&raw const storage).cast()).unwrap()
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
        assert_eq!(from_sockaddr(std::ptr::null()), None);
        // SAFETY: all-zero is a valid sockaddr_storage (family AF_UNSPEC).
        let mut s: ffi::sockaddr_storage = unsafe { std::mem::zeroed() };
        assert_eq!(from_sockaddr((&raw const s).cast()), None);
        s.ss_family = libc::AF_UNIX as ffi::sa_family_t;
        assert_eq!(from_sockaddr((&raw const s).cast()), None);
    }
}
