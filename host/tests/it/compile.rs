//! Compilation is bounded: in the node's worker process (the `spore` binary's hidden
//! `compile-worker` command) by time and memory, on a thread by time; a module that
//! exceeds a bound is refused, the refusal is remembered (the same bytes cost nothing the
//! second time), and a module within the bounds loads and runs as before.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use spore::core::ops::Outcome;
use spore::modules::compile::CompileBounds;
use spore::modules::{LoadError, Role, Runtime, RuntimeConfig, RuntimeError, samples};

const MODULE: spore_artifacts::Artifact = spore_artifacts::MEDIAN_PRICE;

fn runtime(bounds: CompileBounds) -> anyhow::Result<Runtime> {
    let mut r = Runtime::new(RuntimeConfig::default())?;
    r.set_compile_bounds(bounds);
    Ok(r)
}

fn worker() -> Option<PathBuf> {
    Some(PathBuf::from(env!("CARGO_BIN_EXE_spore")))
}

fn refused_by_bound(
    r: Result<std::sync::Arc<spore::modules::LoadedModule>, RuntimeError>,
) -> String {
    match r {
        Err(RuntimeError::Load(LoadError::CompileBound(why))) => why,
        other => panic!(
            "expected a compile-bound refusal, got {:?}",
            other.map(|m| m.hash())
        ),
    }
}

#[test]
fn the_worker_compiles_a_module_that_then_runs() -> anyhow::Result<()> {
    let r = runtime(CompileBounds {
        worker: worker(),
        ..CompileBounds::default()
    })?;
    let module = r.install(Role::Validator, MODULE.bytes)?;
    let op = samples::compute_op();
    let report = r.call_validator_on(&module, &op, &samples::context(&op), &samples::snapshot())?;
    assert!(matches!(report.outcome(), Outcome::Accepted(ref b) if b.len() == 16));
    Ok(())
}

#[test]
fn a_compile_past_its_time_is_refused_and_remembered() -> anyhow::Result<()> {
    for worker in [worker(), None] {
        let r = runtime(CompileBounds {
            timeout: Duration::from_millis(1),
            worker: worker.clone(),
            ..CompileBounds::default()
        })?;
        let why =
            refused_by_bound(r.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes));
        assert!(why.contains("longer than"), "{why}");
        // Remembered: refused again at once, without compiling.
        let started = Instant::now();
        match r.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes) {
            Err(RuntimeError::Load(LoadError::Refused(again))) => {
                assert!(again.contains("longer than"), "{again}")
            }
            other => panic!("not remembered ({worker:?}): {:?}", other.map(|m| m.hash())),
        }
        assert!(started.elapsed() < Duration::from_millis(500));
        // Once the cluster swapped it in, the refusal is forgotten: the next load
        // compiles again (refused by the bound again here, so remembered again). Control:
        // without forgetting, it is still `Refused` from memory.
        let hash = spore::core::crypto::sha256(spore_artifacts::DEFAULT_VALIDATOR.bytes);
        r.registry().forget_refusal(&hash);
        let why =
            refused_by_bound(r.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes));
        assert!(why.contains("longer than"), "{why}");
        assert!(r.registry().refused_reason(&hash).is_some());
    }
    Ok(())
}

#[test]
fn a_compile_past_its_memory_is_refused_and_the_node_is_untouched() -> anyhow::Result<()> {
    let r = runtime(CompileBounds {
        max_memory_bytes: 8 << 20,
        worker: worker(),
        ..CompileBounds::default()
    })?;
    let why = refused_by_bound(r.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes));
    assert!(why.contains("8 MiB"), "{why}");
    // This process still compiles and runs other modules (with a generous bound).
    let fine = runtime(CompileBounds {
        worker: worker(),
        ..CompileBounds::default()
    })?;
    fine.install(Role::Validator, MODULE.bytes)?;
    Ok(())
}

#[test]
fn a_missing_worker_is_a_local_fault_not_a_verdict() -> anyhow::Result<()> {
    let r = runtime(CompileBounds {
        worker: Some(PathBuf::from("/nonexistent/spore")),
        ..CompileBounds::default()
    })?;
    for _ in 0..2 {
        match r.load(Role::Validator, MODULE.bytes) {
            Err(RuntimeError::Load(LoadError::CompilerUnavailable(_))) => {}
            other => panic!("expected a local fault: {:?}", other.map(|m| m.hash())),
        }
    }
    Ok(())
}

/// A component of one core module, instantiated, that defines `memories` memories of
/// `min_pages` pages each (and exports nothing: no role's world).
fn component_with_memories(memories: u32, min_pages: u64) -> Vec<u8> {
    use wasm_encoder::{
        Component, InstanceSection, MemorySection, MemoryType, Module, ModuleArg, ModuleSection,
    };
    let mut section = MemorySection::new();
    for _ in 0..memories {
        section.memory(MemoryType {
            minimum: min_pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    let mut module = Module::new();
    module.section(&section);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    let mut instances = InstanceSection::new();
    instances.instantiate(0, Vec::<(&str, ModuleArg)>::new());
    component.section(&instances);
    component.finish()
}

/// Components whose modules break a limit of the instance pool (nine memories in one
/// module, above the ceiling of eight; a memory whose minimum is 300 MiB, above the
/// 256 MiB ceiling) are refused as invalid and the refusal is remembered, in the worker
/// and on a thread: a verdict every node reaches alike. Before, the worker compiled them,
/// the node's process refused to load the artifact, and the load was reported as
/// `CompilerUnavailable`: a local fault, retried forever, so every node abstained on a
/// swap naming such a module. Control: two memories in one module (within the ceilings;
/// wasmtime's own default allowed one per module) pass the pool and fail later, on the
/// role's world.
#[test]
fn a_module_past_the_instance_pool_limits_is_refused_as_invalid() -> anyhow::Result<()> {
    for worker in [worker(), None] {
        let r = runtime(CompileBounds {
            worker: worker.clone(),
            ..CompileBounds::default()
        })?;
        for (memories, pages) in [(9, 1), (1, 300 * 16)] {
            let bytes = component_with_memories(memories, pages);
            match r.load(Role::Validator, &bytes) {
                Err(RuntimeError::Load(LoadError::Invalid(why))) => {
                    assert!(why.contains("pooling allocator"), "{why}")
                }
                other => panic!(
                    "{memories} memories of {pages} pages ({worker:?}): {:?}",
                    other.map(|m| m.hash())
                ),
            }
            match r.load(Role::Validator, &bytes) {
                Err(RuntimeError::Load(LoadError::Refused(_))) => {}
                other => panic!("not remembered ({worker:?}): {:?}", other.map(|m| m.hash())),
            }
        }
        match r.load(Role::Validator, &component_with_memories(2, 1)) {
            Err(RuntimeError::Load(LoadError::WrongWorld { .. })) => {}
            other => panic!("two memories ({worker:?}): {:?}", other.map(|m| m.hash())),
        }
    }
    Ok(())
}

/// A component nesting another, with or without core code in the inner one.
fn component_nesting(inner_code: bool) -> Vec<u8> {
    use wasm_encoder::{
        Component, InstanceSection, Module, ModuleArg, ModuleSection, NestedComponentSection,
    };
    let mut inner = Component::new();
    if inner_code {
        inner.section(&ModuleSection(&Module::new()));
        let mut instances = InstanceSection::new();
        instances.instantiate(0, Vec::<(&str, ModuleArg)>::new());
        inner.section(&instances);
    }
    let mut outer = Component::new();
    outer.section(&NestedComponentSection(&inner));
    outer.finish()
}

/// Core code inside a nested component is refused at load, as invalid, before any
/// compile or cache look-up: a call between two components copies strings in host
/// routines that cost one instruction of fuel whatever their length, so an outer
/// component calling an inner one's string function in a loop copied about 60 MiB per
/// pass for 50 fuel, hours within the default budget, on every node. Control: a nested
/// component without code (componentize-py wraps an export in one) passes the shape
/// check and fails later, on the role's world.
#[test]
fn core_code_in_a_nested_component_is_refused() -> anyhow::Result<()> {
    let r = runtime(CompileBounds::default())?;
    match r.load(Role::Validator, &component_nesting(true)) {
        Err(RuntimeError::Load(LoadError::Invalid(why))) => {
            assert!(why.contains("nested component"), "{why}")
        }
        other => panic!("core code nested: {:?}", other.map(|m| m.hash())),
    }
    match r.load(Role::Validator, &component_nesting(false)) {
        Err(RuntimeError::Load(LoadError::WrongWorld { .. })) => {}
        other => panic!(
            "a nested component without code: {:?}",
            other.map(|m| m.hash())
        ),
    }
    Ok(())
}

/// How a component reaches its one core module (a memory and, with data, an active data
/// segment of 64 KiB) for its instantiations.
#[derive(Clone, Copy, Debug)]
enum Route {
    /// `n` instantiations of the module's own index.
    Direct(u32),
    /// One of its index, one of an outer alias (count 0) of it.
    OuterAlias,
    /// One of its index, one of the index its export adds.
    Exported,
    /// An instantiation of an index far past any defined.
    PastTheEnd,
}

fn component_instantiating(data: bool, route: Route) -> Vec<u8> {
    use wasm_encoder::{
        Alias, Component, ComponentAliasSection, ComponentExportKind, ComponentExportSection,
        ComponentOuterAliasKind, ConstExpr, DataSection, InstanceSection, MemorySection,
        MemoryType, Module, ModuleArg, ModuleSection,
    };
    let mut module = Module::new();
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    if data {
        let mut segments = DataSection::new();
        segments.active(0, &ConstExpr::i32_const(0), vec![7u8; 64 << 10]);
        module.section(&segments);
    }
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    let indices: Vec<u32> = match route {
        Route::Direct(n) => vec![0; n as usize],
        Route::OuterAlias => {
            let mut aliases = ComponentAliasSection::new();
            aliases.alias(Alias::Outer {
                kind: ComponentOuterAliasKind::CoreModule,
                count: 0,
                index: 0,
            });
            component.section(&aliases);
            vec![0, 1]
        }
        Route::Exported => {
            let mut exports = ComponentExportSection::new();
            exports.export("m", ComponentExportKind::Module, 0, None);
            component.section(&exports);
            vec![0, 1]
        }
        Route::PastTheEnd => vec![u32::MAX],
    };
    let mut instances = InstanceSection::new();
    for index in indices {
        instances.instantiate(index, Vec::<(&str, ModuleArg)>::new());
    }
    component.section(&instances);
    component.finish()
}

/// A core module with active segments instantiated more than once is refused at load,
/// before any compile, whether the second instantiation names it directly, through an
/// outer alias or through the index its export adds: its segments would be written again
/// at every instantiation, at no fuel (into an imported memory, 20 MB of data
/// instantiated 60 times copied 1.2 GB per call). An index past the end is malformed,
/// refused by the engine (it made the check allocate 16 GiB once). Controls: the same
/// module instantiated once, and a module without segments instantiated twice, pass the
/// shape check and fail later, on the role's world.
#[test]
fn a_module_with_segments_instantiated_twice_is_refused() -> anyhow::Result<()> {
    let r = runtime(CompileBounds::default())?;
    for route in [Route::Direct(2), Route::OuterAlias, Route::Exported] {
        match r.load(Role::Validator, &component_instantiating(true, route)) {
            Err(RuntimeError::Load(LoadError::Invalid(why))) => {
                assert!(why.contains("instantiated 2 times"), "{route:?}: {why}")
            }
            other => panic!("segments twice, {route:?}: {:?}", other.map(|m| m.hash())),
        }
    }
    match r.load(
        Role::Validator,
        &component_instantiating(true, Route::PastTheEnd),
    ) {
        Err(RuntimeError::Load(LoadError::Invalid(why))) => {
            assert!(!why.contains("instantiated"), "{why}")
        }
        other => panic!("past the end: {:?}", other.map(|m| m.hash())),
    }
    for (data, route) in [(true, Route::Direct(1)), (false, Route::Direct(2))] {
        match r.load(Role::Validator, &component_instantiating(data, route)) {
            Err(RuntimeError::Load(LoadError::WrongWorld { .. })) => {}
            other => panic!("data {data}, {route:?}: {:?}", other.map(|m| m.hash())),
        }
    }
    Ok(())
}
