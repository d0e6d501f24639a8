//! The limits a module runs under, and what a module needs of them.
//!
//! # Replicated, not local
//! Whether a module may run at all, and how far its memories and tables may grow, decides
//! outcomes, so every node must apply the same limits: they are replicated parameters
//! (`timing.max-module-bytes`, `timing.max-core-instances`, `timing.max-memories`,
//! `timing.max-tables`, `timing.max-memory-bytes`, `timing.max-table-elements`) read from
//! the snapshot of each call. The engine is built once for the *ceilings* (the upper
//! bounds of those parameters' ranges), so any value a cluster may choose is enforced the
//! same way on every node; the defaults of [`TimingParams`] are what local tools use when
//! no cluster state is given.
//!
//! # What a module needs
//! [`ModuleNeeds`] is a pure function of the component's bytes: its size, how many core
//! instances it creates (counted as wasmtime flattens a component), and how many memories
//! and tables those instances define (wasmtime's own `resources_required`). A call of a
//! module that needs more than the snapshot's limits allow ends, before instantiation, in
//! the deterministic failure [`ModuleFailure::ResourceLimit`] on every node.
//!
//! [`ModuleFailure::ResourceLimit`]: super::error::ModuleFailure::ResourceLimit

use spore_core::state::TimingParams;
use wasmtime::component::Component;

use super::snapshot::SnapshotView;

/// The six replicated module limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleLimits {
    /// Largest component binary, in bytes.
    pub module_bytes: u64,
    /// Most core module instances per component.
    pub core_instances: u64,
    /// Most linear memories per component.
    pub memories: u64,
    /// Most tables per component.
    pub tables: u64,
    /// Largest linear memory, in bytes.
    pub memory_bytes: u64,
    /// Most elements of one table.
    pub table_elements: u64,
}

/// The parameter key of each limit, in [`ModuleLimits`] field order.
pub const LIMIT_KEYS: [&str; 6] = [
    "timing.max-module-bytes",
    "timing.max-core-instances",
    "timing.max-memories",
    "timing.max-tables",
    "timing.max-memory-bytes",
    "timing.max-table-elements",
];

impl Default for ModuleLimits {
    /// The replicated defaults (a genesis that sets nothing runs under these).
    fn default() -> Self {
        Self::of_params(&TimingParams::default())
    }
}

impl ModuleLimits {
    /// The limits a cluster's timing parameters set.
    pub fn of_params(timing: &TimingParams) -> Self {
        Self {
            module_bytes: timing.max_module_bytes,
            core_instances: timing.max_core_instances,
            memories: timing.max_memories,
            tables: timing.max_tables,
            memory_bytes: timing.max_memory_bytes,
            table_elements: timing.max_table_elements,
        }
    }

    /// The largest values the parameters may take: what the engine is built for.
    pub fn ceilings() -> Self {
        let mut limits = Self::default();
        for key in LIMIT_KEYS {
            if let Some(hi) = TimingParams::ceiling(key) {
                *limits.field_mut(key) = hi;
            }
        }
        limits
    }

    /// The limits a call's snapshot names, each falling back to `self` where the snapshot
    /// lacks it (local tools without cluster state). A node's snapshots name every key.
    pub fn in_snapshot(&self, snapshot: &SnapshotView) -> Self {
        let mut limits = *self;
        for key in LIMIT_KEYS {
            if let Some(v) = snapshot.param(key).and_then(|v| u64::try_from(v).ok()) {
                *limits.field_mut(key) = v;
            }
        }
        limits
    }

    /// `(key, value)` of every limit, in [`LIMIT_KEYS`] order.
    pub fn entries(&self) -> [(&'static str, u64); 6] {
        let mut copy = *self;
        LIMIT_KEYS.map(|k| (k, *copy.field_mut(k)))
    }

    fn field_mut(&mut self, key: &str) -> &mut u64 {
        match key {
            "timing.max-module-bytes" => &mut self.module_bytes,
            "timing.max-core-instances" => &mut self.core_instances,
            "timing.max-memories" => &mut self.memories,
            "timing.max-tables" => &mut self.tables,
            "timing.max-memory-bytes" => &mut self.memory_bytes,
            _ => &mut self.table_elements,
        }
    }
}

/// What one module needs of the limits: a pure function of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleNeeds {
    /// Size of the component binary, in bytes.
    pub module_bytes: u64,
    /// Core module instances the component creates.
    pub core_instances: u64,
    /// Linear memories its instances define.
    pub memories: u64,
    /// Tables its instances define.
    pub tables: u64,
}

/// One limit a module exceeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The parameter key of the limit.
    pub key: &'static str,
    /// What the module needs.
    pub needed: u64,
    /// The limit.
    pub limit: u64,
}

impl ModuleNeeds {
    /// The needs of a compiled `component` whose binary is `bytes`.
    pub fn of(component: &Component, bytes: &[u8]) -> Self {
        // `None` only for components that import core modules, which the host never
        // provides (such a component fails to link): count them as needing everything.
        let (memories, tables) = component
            .resources_required()
            .map_or((u64::MAX, u64::MAX), |r| {
                (u64::from(r.num_memories), u64::from(r.num_tables))
            });
        Self {
            module_bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            core_instances: count_core_instances(bytes),
            memories,
            tables,
        }
    }

    /// The first limit of `limits` this module exceeds, if any (size, core instances,
    /// memories, tables: in that order, so every node names the same one).
    pub fn exceeded(&self, limits: &ModuleLimits) -> Option<Exceeded> {
        self.against(limits)
            .into_iter()
            .find(|e| e.needed > e.limit)
    }

    /// Each need beside its limit, in [`LIMIT_KEYS`] order (growth limits excluded: a
    /// module's memories and tables grow at run time and are refused then).
    pub fn against(&self, limits: &ModuleLimits) -> [Exceeded; 4] {
        [
            Exceeded {
                key: LIMIT_KEYS[0],
                needed: self.module_bytes,
                limit: limits.module_bytes,
            },
            Exceeded {
                key: LIMIT_KEYS[1],
                needed: self.core_instances,
                limit: limits.core_instances,
            },
            Exceeded {
                key: LIMIT_KEYS[2],
                needed: self.memories,
                limit: limits.memories,
            },
            Exceeded {
                key: LIMIT_KEYS[3],
                needed: self.tables,
                limit: limits.tables,
            },
        ]
    }
}

/// Why the component's shape is refused, if it is. A function of the bytes alone, so
/// every node refuses the same modules.
///
/// - **Core code in a nested component** (a core module or a core instance). Every call
///   between two components goes through an adapter the engine generates, and its string
///   copies run in host routines that cost one instruction of fuel whatever their length:
///   an outer component calling an inner one's `func(s: string)` in a loop copied 60 MiB
///   per pass for about 50 fuel (hours of copying within the default budget, on every
///   node). With all core code in the outermost component, every function a module lowers
///   is a host import or one of its own lifted functions (which traps on re-entry before
///   copying anything). Nested components without code (componentize-py wraps an export
///   in one) are allowed.
/// - **A core module with active data or element segments instantiated more than once.**
///   Segments are written at every instantiation, before any fuel is counted, and into an
///   imported memory they are copied each time: one module of 20 MB of data instantiated
///   60 times against one memory copied 1.2 GB per call. Instantiated at most once, what
///   a call writes at instantiation is bounded by the component's own size. Toolchains
///   instantiate each such module once (code-free shims and adapters may repeat).
pub fn refused_shape(bytes: &[u8]) -> Option<String> {
    use wasmparser::{
        ComponentAlias, ComponentExternalKind, ComponentOuterAliasKind, ComponentTypeRef, DataKind,
        ElementKind, Instance, Parser, Payload,
    };
    const NESTED: &str = "modules keep their core code in the outermost component (calls \
                          between components copy strings at no fuel)";
    // Components open around the current position; core modules being skipped.
    let (mut depth, mut in_module) = (0u32, 0u32);
    // The outermost component's core modules as defined (whether each has active
    // segments, and how often it is instantiated), and its core module index space: for
    // each index, the definition it names, if known. An index may name a definition
    // through an outer alias of count 0 or an export as well as its module section;
    // one from an import or another component's export has no known definition.
    let mut defined: Vec<(bool, u32)> = Vec::new();
    let mut index_space: Vec<Option<usize>> = Vec::new();
    let unknown = "a core module of unknown origin (imported, or exported by another \
                   component) is instantiated: modules instantiate only their own";
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            return None; // malformed: the engine refuses it with its own error
        };
        match payload {
            Payload::ModuleSection { .. } if in_module == 0 && depth > 0 => {
                return Some(format!("a nested component holds a core module: {NESTED}"));
            }
            Payload::ModuleSection { .. } => {
                in_module += 1;
                if in_module == 1 {
                    index_space.push(Some(defined.len()));
                    defined.push((false, 0));
                }
            }
            Payload::InstanceSection(_) if in_module == 0 && depth > 0 => {
                return Some(format!(
                    "a nested component creates core instances: {NESTED}"
                ));
            }
            Payload::InstanceSection(reader) if in_module == 0 => {
                for instance in reader.into_iter().flatten() {
                    if let Instance::Instantiate { module_index, .. } = instance {
                        // An index not yet defined is malformed: the engine refuses it.
                        let origin = index_space.get(module_index as usize)?;
                        let Some(def) = origin.and_then(|d| defined.get_mut(d)) else {
                            return Some(unknown.into());
                        };
                        def.1 = def.1.saturating_add(1);
                    }
                }
            }
            Payload::DataSection(_) | Payload::ElementSection(_)
                if in_module == 1 && depth == 0 =>
            {
                let active = match &payload {
                    Payload::DataSection(reader) => reader
                        .clone()
                        .into_iter()
                        .flatten()
                        .any(|d| matches!(d.kind, DataKind::Active { .. })),
                    Payload::ElementSection(reader) => reader
                        .clone()
                        .into_iter()
                        .flatten()
                        .any(|e| matches!(e.kind, ElementKind::Active { .. })),
                    _ => false,
                };
                if active && let Some(last) = defined.last_mut() {
                    last.0 = true;
                }
            }
            Payload::ComponentAliasSection(reader) if in_module == 0 && depth == 0 => {
                for alias in reader.into_iter().flatten() {
                    match alias {
                        ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Module,
                            ..
                        } => {
                            index_space.push(None);
                        }
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::CoreModule,
                            count,
                            index,
                        } => {
                            // Count 0 names this component's own index space.
                            let origin = (count == 0)
                                .then(|| index_space.get(index as usize).copied().flatten())
                                .flatten();
                            index_space.push(origin);
                        }
                        _ => {}
                    }
                }
            }
            Payload::ComponentImportSection(reader) if in_module == 0 && depth == 0 => {
                for import in reader.into_iter().flatten() {
                    if matches!(import.ty, ComponentTypeRef::Module(_)) {
                        index_space.push(None);
                    }
                }
            }
            Payload::ComponentExportSection(reader) if in_module == 0 && depth == 0 => {
                for export in reader.into_iter().flatten() {
                    if export.kind == ComponentExternalKind::Module {
                        // An export adds an index naming what it exports.
                        let origin = index_space.get(export.index as usize).copied().flatten();
                        index_space.push(origin);
                    }
                }
            }
            Payload::ComponentSection { .. } if in_module == 0 => depth += 1,
            Payload::End(_) if in_module > 0 => in_module -= 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let (repeated, (_, times)) = defined
        .iter()
        .enumerate()
        .find(|(_, (has_segments, count))| *has_segments && *count > 1)?;
    Some(format!(
        "core module {repeated} has active data or element segments and is instantiated \
         {times} times: such a module may be instantiated once (its segments are written at \
         every instantiation, without fuel)"
    ))
}

/// Core module instances a component creates, counted as wasmtime flattens it: every
/// `instantiate` of a core module, plus, for every instantiation of a nested component,
/// the instances that component creates. Saturating, so hostile nesting cannot overflow.
pub(crate) fn count_core_instances(bytes: &[u8]) -> u64 {
    use wasmparser::{ComponentInstance, Instance, Parser, Payload};
    // One frame per component being read: its own core instantiations, the totals of
    // the components nested in it (by component index), and what it instantiates.
    struct Frame {
        own: u64,
        nested: Vec<u64>,
        instantiated: Vec<u32>,
    }
    let total = |f: &Frame| {
        f.instantiated.iter().fold(f.own, |acc, i| {
            acc.saturating_add(f.nested.get(*i as usize).copied().unwrap_or(0))
        })
    };
    let mut stack = vec![Frame {
        own: 0,
        nested: Vec::new(),
        instantiated: Vec::new(),
    }];
    // Depth of core modules being skipped (their payloads hold no instantiations).
    let mut in_module = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            break; // the engine refuses malformed bytes; count what was read
        };
        match payload {
            Payload::ModuleSection { .. } => in_module += 1,
            Payload::ComponentSection { .. } => stack.push(Frame {
                own: 0,
                nested: Vec::new(),
                instantiated: Vec::new(),
            }),
            Payload::End(_) if in_module > 0 => in_module -= 1,
            Payload::End(_) => {
                if stack.len() > 1
                    && let Some(done) = stack.pop()
                    && let Some(parent) = stack.last_mut()
                {
                    parent.nested.push(total(&done));
                }
            }
            Payload::InstanceSection(reader) => {
                if let Some(frame) = stack.last_mut() {
                    for instance in reader.into_iter().flatten() {
                        if matches!(instance, Instance::Instantiate { .. }) {
                            frame.own = frame.own.saturating_add(1);
                        }
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                if let Some(frame) = stack.last_mut() {
                    for instance in reader.into_iter().flatten() {
                        if let ComponentInstance::Instantiate {
                            component_index, ..
                        } = instance
                        {
                            frame.instantiated.push(component_index);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    stack.first().map_or(0, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_the_upper_bounds_of_the_parameter_ranges() {
        let ceilings = ModuleLimits::ceilings();
        for (key, value) in ceilings.entries() {
            assert_eq!(Some(value), TimingParams::ceiling(key), "{key}");
        }
        let defaults = ModuleLimits::default();
        for ((key, d), (_, c)) in defaults.entries().into_iter().zip(ceilings.entries()) {
            assert!(d <= c, "{key}: default {d} above ceiling {c}");
        }
    }

    #[test]
    fn the_first_exceeded_limit_is_named_in_a_fixed_order() {
        let needs = ModuleNeeds {
            module_bytes: 10,
            core_instances: 9,
            memories: 3,
            tables: 1,
        };
        let mut limits = ModuleLimits::default();
        assert_eq!(needs.exceeded(&limits), None);
        limits.memories = 2;
        limits.core_instances = 8;
        let first = needs.exceeded(&limits).map(|e| e.key);
        assert_eq!(first, Some("timing.max-core-instances"));
    }

    #[test]
    fn malformed_bytes_count_no_instances() {
        assert_eq!(count_core_instances(b"not wasm"), 0);
        assert_eq!(count_core_instances(&[]), 0);
    }
}
