//! Zeroing the dead shadow stack in a pre-initialised snapshot, for reproducible builds.
//!
//! Pre-initialisers (componentize-py's component-init, wizer) run the guest's start-up
//! inside wasmtime and write its linear memory back as data segments. The C shadow
//! stack lives in that memory, and the bytes below the stack pointer are whatever the
//! last deep call left there: values from host calls made during start-up (file
//! metadata, timings) that differ between builds although no later code can observe
//! them. Memory below the stack pointer is dead at a snapshot: a frame writes its slots
//! before it reads them (reading them first is undefined behaviour in C and Rust), and
//! the snapshot is taken with the stack unwound.
//!
//! [`zero_dead_stack`] finds each core module that defines its memory and exports the
//! stack globals the dynamic linker gives it (`__stack_pointer`, `__stack_low`), and
//! zeroes, in place, the bytes of its active data segments that fall in
//! `[__stack_low, __stack_pointer)`. Nothing moves: the component keeps its size and
//! structure, and a module without those exports is left alone.

use std::ops::Range;

use wasmparser::{DataKind, ExternalKind, Operator, Parser, Payload, TypeRef};

use crate::{Error, Result};

/// What [`zero_dead_stack`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadStack {
    /// Core modules whose stack was found.
    pub modules: usize,
    /// Bytes of data segments inside a dead stack.
    pub bytes: usize,
    /// Of those, bytes that were not zero already.
    pub changed: usize,
}

/// The state of the core module being read.
#[derive(Default)]
struct Module {
    imported_globals: u32,
    imported_memories: u32,
    /// Defined globals' i32 constant initial values (None: not an i32 constant).
    globals: Vec<Option<i32>>,
    stack_pointer: Option<u32>,
    stack_low: Option<u32>,
}

impl Module {
    fn global(&self, index: Option<u32>) -> Option<u32> {
        let i = index?.checked_sub(self.imported_globals)?;
        let value = (*self.globals.get(usize::try_from(i).ok()?)?)?;
        Some(unsigned(value))
    }

    /// The dead stack, if this module defines its memory 0 and exports both globals.
    fn dead(&self) -> Option<Range<u64>> {
        if self.imported_memories > 0 {
            return None;
        }
        let low = self.global(self.stack_low)?;
        let sp = self.global(self.stack_pointer)?;
        (low < sp).then(|| u64::from(low)..u64::from(sp))
    }
}

/// The value of a constant expression that is exactly `i32.const V; end` (anything else,
/// such as an extended-const sum, is not read: its segment or global is left alone).
fn i32_const(expr: &wasmparser::ConstExpr<'_>) -> Option<i32> {
    let mut ops = expr.get_operators_reader();
    let Ok(Operator::I32Const { value }) = ops.read() else {
        return None;
    };
    matches!(ops.read(), Ok(Operator::End)).then_some(value)
}

/// A wasm32 address held in an i32 (addresses are unsigned).
fn unsigned(value: i32) -> u32 {
    u32::from_le_bytes(value.to_le_bytes())
}

/// Zero, in place, the bytes of `component` (or core module) that initialise a dead
/// shadow stack; see the module docs. Fails only on bytes wasmparser cannot read.
pub fn zero_dead_stack(component: &mut [u8]) -> Result<DeadStack> {
    let mut patches: Vec<Range<usize>> = Vec::new();
    let mut report = DeadStack::default();
    // Nested modules are read in order, each from its header to its end.
    let mut stack: Vec<Module> = Vec::new();
    let bad =
        |e: wasmparser::BinaryReaderError| Error::Invalid(format!("reading the snapshot: {e}"));
    for payload in Parser::new(0).parse_all(component) {
        match payload.map_err(bad)? {
            Payload::Version { .. } => stack.push(Module::default()),
            Payload::End(_) => {
                stack.pop();
            }
            Payload::ImportSection(reader) => {
                let Some(m) = stack.last_mut() else { continue };
                for import in reader.into_imports() {
                    match import.map_err(bad)?.ty {
                        TypeRef::Global(_) => m.imported_globals += 1,
                        TypeRef::Memory(_) => m.imported_memories += 1,
                        _ => {}
                    }
                }
            }
            Payload::GlobalSection(reader) => {
                let Some(m) = stack.last_mut() else { continue };
                for global in reader {
                    m.globals.push(i32_const(&global.map_err(bad)?.init_expr));
                }
            }
            Payload::ExportSection(reader) => {
                let Some(m) = stack.last_mut() else { continue };
                for export in reader {
                    let export = export.map_err(bad)?;
                    if export.kind != ExternalKind::Global {
                        continue;
                    }
                    match export.name {
                        "__stack_pointer" => m.stack_pointer = Some(export.index),
                        "__stack_low" => m.stack_low = Some(export.index),
                        _ => {}
                    }
                }
            }
            Payload::DataSection(reader) => {
                let Some(dead) = stack.last().and_then(Module::dead) else {
                    continue;
                };
                report.modules += 1;
                for data in reader {
                    let data = data.map_err(bad)?;
                    let DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = data.kind
                    else {
                        continue;
                    };
                    let Some(value) = i32_const(&offset_expr) else {
                        continue;
                    };
                    let start = u64::from(unsigned(value));
                    let len = data.data.len() as u64;
                    let from = start.max(dead.start);
                    let to = (start + len).min(dead.end);
                    if from >= to {
                        continue;
                    }
                    // The segment's bytes end its entry.
                    let at = data.range.end - data.data.len();
                    let (a, b) = (from - start, to - start);
                    patches.push(at + a as usize..at + b as usize);
                }
            }
            _ => {}
        }
    }
    for range in patches {
        report.bytes += range.len();
        for byte in &mut component[range] {
            if *byte != 0 {
                report.changed += 1;
                *byte = 0;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    use wasm_encoder::{
        ConstExpr, DataSection, ExportKind, ExportSection, GlobalSection, GlobalType,
        ImportSection, MemorySection, MemoryType, Module as Encoder, ValType,
    };

    /// What the test module imports besides what it defines.
    #[derive(Clone, Copy, PartialEq)]
    enum Imports {
        Nothing,
        /// A global first, so the defined globals' indices shift by one.
        Global,
        /// Its memory (then not the module's own: nothing may be zeroed).
        Memory,
    }

    /// A module shaped like a dynamic linker's main module (`exports`: export the stack
    /// globals): one segment across the top of the stack and one above it.
    fn module(stack_low: i32, stack_pointer: i32, exports: bool) -> Vec<u8> {
        encoder(stack_low, stack_pointer, exports, Imports::Nothing).finish()
    }

    fn encoder(stack_low: i32, stack_pointer: i32, exports: bool, imports: Imports) -> Encoder {
        let mut m = Encoder::new();
        let memory = MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        };
        let ty = GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        };
        let mut imported = ImportSection::new();
        match imports {
            Imports::Nothing => {}
            Imports::Global => {
                imported.import("env", "g", ty);
            }
            Imports::Memory => {
                imported.import("env", "memory", memory);
            }
        }
        if imports != Imports::Nothing {
            m.section(&imported);
        }
        if imports != Imports::Memory {
            let mut memories = MemorySection::new();
            memories.memory(memory);
            m.section(&memories);
        }
        let mut globals = GlobalSection::new();
        globals.global(ty, &ConstExpr::i32_const(stack_pointer));
        globals.global(ty, &ConstExpr::i32_const(stack_low));
        m.section(&globals);
        let first = u32::from(imports == Imports::Global);
        let mut names = ExportSection::new();
        names.export("memory", ExportKind::Memory, 0);
        if exports {
            names.export("__stack_pointer", ExportKind::Global, first);
            names.export("__stack_low", ExportKind::Global, first + 1);
        }
        m.section(&names);
        let mut data = DataSection::new();
        data.active(
            0,
            &ConstExpr::i32_const(1000),
            (1..=8u8).collect::<Vec<_>>(),
        );
        data.active(0, &ConstExpr::i32_const(2000), b"heap".to_vec());
        m.section(&data);
        m
    }

    /// An imported global shifts the index space; an imported memory is not the module's
    /// own stack; a module nested in a component is patched at its place in the file.
    #[test]
    fn index_spaces_imports_and_nesting_are_honoured() -> Result<()> {
        let mut shifted = encoder(0, 1004, true, Imports::Global).finish();
        assert_eq!(zero_dead_stack(&mut shifted)?.changed, 4);
        let mut foreign = encoder(0, 1004, true, Imports::Memory).finish();
        let before = foreign.clone();
        assert_eq!(zero_dead_stack(&mut foreign)?, DeadStack::default());
        assert_eq!(foreign, before);
        let inner = encoder(0, 1004, true, Imports::Nothing);
        let mut component = wasm_encoder::Component::new();
        component.section(&wasm_encoder::ModuleSection(&inner));
        let mut bytes = component.finish();
        let at = segment(&bytes, b"\x01\x02\x03\x04\x05").expect("the test segment");
        assert_eq!(zero_dead_stack(&mut bytes)?.changed, 4);
        assert_eq!(&bytes[at..at + 8], b"\0\0\0\0\x05\x06\x07\x08");
        Ok(())
    }

    fn segment(bytes: &[u8], needle: &[u8]) -> Option<usize> {
        bytes.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn bytes_below_the_stack_pointer_are_zeroed_and_nothing_else() -> Result<()> {
        let mut bytes = module(0, 1004, true);
        let original = bytes.clone();
        let at = segment(&bytes, b"\x01\x02\x03\x04\x05").expect("segment");
        let report = zero_dead_stack(&mut bytes)?;
        assert_eq!(
            report,
            DeadStack {
                modules: 1,
                bytes: 4,
                changed: 4
            }
        );
        assert_eq!(&bytes[at..at + 8], b"\0\0\0\0\x05\x06\x07\x08");
        assert!(segment(&bytes, b"heap").is_some());
        assert_eq!(bytes.len(), original.len());
        // Still a valid module, and zeroing again changes nothing.
        wasmparser::Validator::new()
            .validate_all(&bytes)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        assert_eq!(zero_dead_stack(&mut bytes)?.changed, 0);
        Ok(())
    }

    #[test]
    fn a_module_without_the_stack_exports_is_left_alone() -> Result<()> {
        let mut bytes = module(0, 1004, false);
        let original = bytes.clone();
        assert_eq!(zero_dead_stack(&mut bytes)?, DeadStack::default());
        assert_eq!(bytes, original);
        // A stack with nothing dead in it (low == pointer) is left alone too.
        let mut empty = module(1004, 1004, true);
        let before = empty.clone();
        assert_eq!(zero_dead_stack(&mut empty)?.bytes, 0);
        assert_eq!(empty, before);
        Ok(())
    }
}
