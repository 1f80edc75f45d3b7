//! `flag_set!`: the public bit-flag types (C flags as a small set with named constants).

/// Declares `pub struct $name(i32)` with one associated constant per flag, `empty`, `bits`,
/// `contains`, `|`, and a `Debug` that lists the names of the flags set.
macro_rules! flag_set {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $flag:ident = $val:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(i32);

        impl $name {
            $($(#[$fm])* pub const $flag: $name = $name($val as i32);)*

            /// No flags.
            pub const fn empty() -> $name {
                $name(0)
            }

            /// The raw C bits.
            pub const fn bits(self) -> i32 {
                self.0
            }

            /// True when every flag of `other` is set.
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
