//! The one counter registry: every counter plat keeps (the translator's,
//! the NAT state's, the worker's, the control thread's drop reasons and
//! events) is declared once with [`counters!`](crate::counters!): its
//! variant, the name operators see, its kind and its help text. The stats
//! file, `platctl` and Prometheus read the same [`Desc`]s, so a counter's
//! name and meaning live in one place.

/// How a value behaves over time (Prometheus' `TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Only ever grows (events, drops, packets).
    Counter,
    /// Goes up and down (sessions in use).
    Gauge,
}

impl Kind {
    /// The Prometheus `# TYPE` word.
    pub const fn prometheus(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// What one counter is: name, kind, help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Desc {
    /// The name operators see (snake_case, unique across the registry).
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// One sentence: what is counted.
    pub help: &'static str,
}

/// Declares a set of counters: a fieldless enum, one variant a counter,
/// with `ALL`, `COUNT`, `DESCS`, `index`, `name`, `help` and `kind`.
///
/// ```
/// plat_core::counters! {
///     /// Why a demo packet went nowhere.
///     pub enum DemoDrop {
///         Runt = "drop_demo_runt", Counter, "Frames too short for their headers.";
///         Busy = "demo_queue_depth", Gauge, "Packets waiting.";
///     }
/// }
/// use plat_core::counters::Kind;
/// assert_eq!(DemoDrop::COUNT, 2);
/// assert_eq!(DemoDrop::Busy.index(), 1);
/// assert_eq!(DemoDrop::Runt.name(), "drop_demo_runt");
/// assert_eq!(DemoDrop::Busy.kind(), Kind::Gauge);
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis enum $set:ident {
            $($(#[$vmeta:meta])* $var:ident = $name:literal, $kind:ident, $help:literal;)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $set {
            $(#[doc = $help] $(#[$vmeta])* $var,)*
        }

        impl $set {
            /// Every counter of the set, in index order.
            pub const ALL: &'static [$set] = &[$($set::$var,)*];
            /// Number of counters in the set.
            pub const COUNT: usize = $set::ALL.len();
            /// The descriptions, in index order.
            pub const DESCS: &'static [$crate::counters::Desc] = &[$(
                $crate::counters::Desc {
                    name: $name,
                    kind: $crate::counters::Kind::$kind,
                    help: $help,
                },
            )*];

            /// Position in a counter array of this set.
            #[inline(always)]
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The counter's name, as operators see it.
            pub const fn name(self) -> &'static str {
                $set::DESCS[self as usize].name
            }

            /// What the counter counts.
            pub const fn help(self) -> &'static str {
                $set::DESCS[self as usize].help
            }

            /// Counter or gauge.
            pub const fn kind(self) -> $crate::counters::Kind {
                $set::DESCS[self as usize].kind
            }
        }

        impl ::core::fmt::Display for $set {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::counters! {
        /// A set for the tests.
        enum Probe {
            First = "probe_first", Counter, "The first.";
            Second = "probe_second", Gauge, "The second.";
        }
    }

    #[test]
    fn a_declared_set_indexes_names_and_describes_in_declaration_order() {
        assert_eq!(Probe::ALL, &[Probe::First, Probe::Second]);
        assert_eq!(Probe::COUNT, 2);
        assert_eq!(Probe::Second.index(), 1);
        assert_eq!(Probe::First.name(), "probe_first");
        assert_eq!(Probe::Second.help(), "The second.");
        assert_eq!(Probe::Second.kind(), Kind::Gauge);
        assert_eq!(Probe::DESCS[Probe::First.index()].name, "probe_first");
        assert_eq!(Probe::First.to_string(), "probe_first");
    }
}
