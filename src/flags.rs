//! `flag_set!`: the public bit-flag types (C flags as a small set with named constants).

/// Declares `pub struct $name(i32)` with one associated constant per flag, `empty`, `bits`,
/// `contains`, `|`, and a `Debug` that lists the names of the flags set.
macro_rules! flag_set {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $flag:ident = $val:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(i32);

        impl $name {
            $(
                $(#[$fm])*
                ///
                /// # Examples
                ///
                /// ```
                /// # #[allow(unused_imports)]
                /// # use uvio::{*, dns::*, fs::*};
                #[doc = concat!("let set = ", stringify!($name), "::empty() | ", stringify!($name),
                    "::", stringify!($flag), ";")]
                #[doc = concat!("assert!(set.contains(", stringify!($name), "::", stringify!($flag),
                    "));")]
                #[doc = concat!("assert_eq!(set.bits(), ", stringify!($name), "::", stringify!($flag),
                    ".bits());")]
                /// ```
                pub const $flag: $name = $name($val as i32);
            )*

            /// No flags.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[allow(unused_imports)]
            /// # use uvio::{*, dns::*, fs::*};
            #[doc = concat!("let none = ", stringify!($name), "::empty();")]
            /// assert_eq!(none.bits(), 0);
            #[doc = concat!("assert_eq!(none, ", stringify!($name), "::default());")]
            #[doc = concat!("assert_eq!(format!(\"{none:?}\"), \"{}\");")]
            /// ```
            pub const fn empty() -> $name {
                $name(0)
            }

            /// The raw C bits.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[allow(unused_imports)]
            /// # use uvio::{*, dns::*, fs::*};
            #[doc = concat!("let all = ", stringify!($name), "::empty()",
                $(" | ", stringify!($name), "::", stringify!($flag),)* ";")]
            #[doc = concat!("assert_eq!(all.bits(), 0", $(" | ", stringify!($name), "::",
                stringify!($flag), ".bits()",)* ");")]
            /// assert_ne!(all.bits(), 0);
            /// ```
            pub const fn bits(self) -> i32 {
                self.0
            }

            /// True when every flag of `other` is set.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[allow(unused_imports)]
            /// # use uvio::{*, dns::*, fs::*};
            #[doc = concat!("let all = ", stringify!($name), "::empty()",
                $(" | ", stringify!($name), "::", stringify!($flag),)* ";")]
            #[doc = concat!("for flag in [", $(stringify!($name), "::", stringify!($flag), ", ",)*
                "] {")]
            ///     assert!(all.contains(flag));
            #[doc = concat!("    assert!(flag.contains(", stringify!($name), "::empty()));")]
            /// }
            /// ```
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut set = f.debug_set();
                $(if $name::$flag.0 != 0 && self.contains($name::$flag) {
                    set.entry(&format_args!("{}", stringify!($flag)));
                })*
                set.finish()
            }
        }
    };
}
