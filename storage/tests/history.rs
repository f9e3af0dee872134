//! Storage below the HTTP layer, on real files in a temporary data directory: the seam between
//! memory and Parquet, resampling and fill, pruning, compaction, retention, recovery of an
//! interrupted cycle.

use std::sync::Arc;

use engine::{Bar, InstrumentId, Interval, Price, Qty, Registry, Side, Tick, Trade};
use storage::StorageConfig;
use storage::aggregate::{BarEvent, BarEventKind};
use storage::catalog::{Dataset, partition_of};
use storage::columnar::read::FileMeta;
use storage::history::{BarQuery, Fill, Range, TickQuery, query_bars, query_ticks};
use storage::persist::{Persister, write_bar_files};
use storage::state::{State, part_name};
use storage::store::Store;
use storage::writer::{BASES, WriterStats};

const S: i64 = 1_000_000_000;
/// 2024-01-02T00:00:00Z
const DAY: i64 = 1_704_153_600 * S;

fn p(units: i64) -> Price {
    Price::from_units(units * 1_000_000)
}

fn bar(id: InstrumentId, interval: Interval, ts: i64, close: i64) -> Bar {
    let mut b = Bar::from_trade(id, interval, ts, p(close), Qty::from_units(2_000_000_000));
    b.push_trade(p(close + 1), Qty::from_units(1_000_000_000));
    b.close = p(close);
    b
}

fn setup() -> (tempfile::TempDir, Arc<Store>, Arc<Registry>) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::new());
    let store = Arc::new(Store::new(
        dir.path(),
        registry.clone(),
        &BASES,
        Default::default(),
    ));
    (dir, store, registry)
}

/// A persister with the default config over `store`, from an empty commit record.
fn fresh_persister(store: &Arc<Store>) -> Persister {
    let stats = Arc::new(WriterStats::default());
    Persister::new(
        store.clone(),
        StorageConfig::default(),
        State::default(),
        stats,
    )
}

fn query(instrument: &str, interval: &str, start: i64, end: i64) -> BarQuery {
    BarQuery {
        instrument: instrument.into(),
        interval: interval.parse().unwrap(),
        range: Range {
            start,
            end,
            limit: None,
            cursor: None,
        },
        fill: Fill::None,
    }
}

fn final_event(b: Bar, index: u64) -> BarEvent {
    BarEvent {
        kind: BarEventKind::Final,
        bar: b,
        first_index: index,
    }
}

fn trade_tick(id: InstrumentId, ts: i64, price: i64) -> Tick {
    let mut t = Tick::trade(
        id,
        ts,
        ts + 10,
        Trade {
            price: p(price),
            size: Qty::from_units(1_000_000_000),
            side: Side::Buy,
            id: 7,
        },
    );
    t.seq = ts as u64;
    t
}

#[test]
fn rows_are_served_once_across_the_seam_and_after_persisting() {
    let (dir, store, registry) = setup();
    let a = registry.intern("SIM:AAA").unwrap();
    let b = registry.intern("SIM:BBB").unwrap();
    // 10 final 1s bars for two instruments, and 20 ticks.
    let events: Vec<BarEvent> = (0..10)
        .flat_map(|i| {
            [
                final_event(bar(a, Interval::SECOND, DAY + i * S, 100 + i), 1),
                final_event(bar(b, Interval::SECOND, DAY + i * S, 500 + i), 1),
            ]
        })
        .collect();
    let mut ticks: Vec<(u64, Tick)> = (0..20)
        .map(|i| (i as u64 + 1, trade_tick(a, DAY + i * S / 2, 100)))
        .collect();
    store.apply(events, &mut ticks, None);
    let before = query_bars(
        &store,
        &query("SIM:AAA", "1s", DAY, DAY + 10 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(before.rows.len(), 10);

    let stats = Arc::new(WriterStats::default());
    let mut persister = Persister::new(
        store.clone(),
        StorageConfig::default(),
        State::default(),
        stats.clone(),
    );
    assert!(persister.persist().unwrap() >= 2);
    // Memory is empty now; the same rows come from Parquet.
    assert!(store.lock().bars[0].is_empty());
    assert_eq!(store.lock().tick_count, 0);
    let after = query_bars(
        &store,
        &query("SIM:AAA", "1s", DAY, DAY + 10 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(after.rows, before.rows);
    let ticks = query_ticks(
        &store,
        &TickQuery {
            instrument: "SIM:AAA".into(),
            trades: Some(true),
            range: Range {
                start: DAY,
                end: DAY + 60 * S,
                limit: None,
                cursor: None,
            },
        },
        1000,
    )
    .unwrap();
    assert_eq!(ticks.rows.len(), 20);
    let state = State::load(dir.path()).unwrap();
    assert_eq!(state.generation, 1);
    assert_eq!(state.ticks_through, 20);
    assert_eq!(state.persisted["SIM:AAA"]["1s"], DAY + 9 * S);
    // A bar that is also in memory (a newer version) replaces the stored one, once.
    let newer = bar(a, Interval::SECOND, DAY + 3 * S, 999);
    store.apply([final_event(newer, 30)], &mut Vec::new(), None);
    let merged = query_bars(
        &store,
        &query("SIM:AAA", "1s", DAY, DAY + 10 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(merged.rows.len(), 10);
    assert_eq!(merged.rows[3].bar.unwrap().close, p(999));
}

#[test]
fn resampling_folds_the_coarsest_dividing_base_and_fill_covers_holes() {
    let (_dir, store, registry) = setup();
    let a = registry.intern("SIM:AAA").unwrap();
    // 1m bars at minutes 0, 1, 2, 5 of the day: minutes 3 and 4 are empty.
    let events: Vec<BarEvent> = [0, 1, 2, 5]
        .iter()
        .map(|m| final_event(bar(a, Interval::MINUTE, DAY + m * 60 * S, 100 + m), 1))
        .collect();
    store.apply(events, &mut Vec::new(), None);
    let five = query_bars(
        &store,
        &query("SIM:AAA", "5m", DAY, DAY + 600 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(five.base, Interval::MINUTE);
    assert_eq!(five.rows.len(), 2);
    let first = five.rows[0].bar.unwrap();
    assert_eq!((first.ts, first.open, first.close), (DAY, p(100), p(102)));
    assert_eq!(first.high, p(103));
    assert_eq!(first.volume, Qty::from_units(9_000_000_000));
    assert_eq!(first.trades, Some(6));

    let mut q = query("SIM:AAA", "1m", DAY, DAY + 6 * 60 * S);
    q.fill = Fill::Null;
    let null = query_bars(&store, &q, 1000, i64::MAX).unwrap();
    assert_eq!(null.rows.len(), 6);
    assert_eq!(null.rows[3].bar, None);
    assert_eq!(null.rows[3].ts, DAY + 180 * S);
    q.fill = Fill::Prev;
    let prev = query_bars(&store, &q, 1000, i64::MAX).unwrap();
    let carried = prev.rows[4].bar.unwrap();
    assert_eq!(
        (carried.open, carried.close, carried.volume),
        (p(102), p(102), Qty::ZERO)
    );
    assert_eq!(carried.vwap(), None);
    // Only buckets before "now" are filled.
    let cut = query_bars(&store, &q, 1000, DAY + 4 * 60 * S).unwrap();
    assert_eq!(
        cut.rows.iter().map(|r| r.ts).collect::<Vec<_>>(),
        [0, 1, 2, 3, 5].map(|m| DAY + m * 60 * S)
    );
}

#[test]
fn one_instruments_query_decodes_only_its_pages() {
    let (dir, _store, _registry) = setup();
    // One day of 1m bars for 50 instruments in one file.
    let rows: Vec<(String, Bar)> = (0..50)
        .flat_map(|i| {
            (0..1440).map(move |m| {
                (
                    format!("SIM:I{i:02}"),
                    bar(InstrumentId(i), Interval::MINUTE, DAY + m * 60 * S, 100),
                )
            })
        })
        .collect();
    let files = write_bar_files(dir.path(), Interval::MINUTE, rows, 1, &part_name(1)).unwrap();
    let meta = FileMeta::load(&files[0]).unwrap();
    assert_eq!(meta.rows, 72_000);
    assert!(meta.has("SIM:I07") && !meta.has("SIM:ZZZ"));
    let decoded: usize = meta
        .read("SIM:I07", DAY, DAY + 86_400 * S)
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert!(
        (1440..=1440 + 2 * 1024).contains(&decoded),
        "decoded {decoded} rows"
    );
    // An hour of it: the time column's page index narrows it further.
    let hour: usize = meta
        .read("SIM:I07", DAY + 3600 * S, DAY + 7200 * S)
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert!((60..=2 * 1024).contains(&hour), "decoded {hour} rows");
}

#[test]
fn integer_columns_are_delta_encoded_and_read_back_exactly() {
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let (dir, _store, _registry) = setup();
    let mut walk = 100_000_000_000_i64;
    let rows: Vec<(String, Bar)> = (0..3000)
        .map(|m| {
            walk += (m * 7919 % 201 - 100) * 10_000_000;
            let mut b = bar(InstrumentId(1), Interval::MINUTE, DAY + m * 60 * S, walk);
            b.trades = Some(m as u64 % 17);
            ("SIM:DLT".to_owned(), b)
        })
        .collect();
    let files =
        write_bar_files(dir.path(), Interval::MINUTE, rows.clone(), 1, &part_name(1)).unwrap();
    // Three days: one file each.
    assert_eq!(files.len(), 3);
    let range = (DAY, DAY + 86_400 * 3 * S);
    let mut back = Vec::new();
    for file in &files {
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        for column in reader.metadata().row_group(0).columns() {
            let name = column.column_path().string();
            let delta = column
                .encodings()
                .any(|e| e == Encoding::DELTA_BINARY_PACKED);
            assert_eq!(delta, name != "instrument" && name != "notional", "{name}");
        }
        let meta = FileMeta::load(file).unwrap();
        for batch in meta.read("SIM:DLT", range.0, range.1).unwrap() {
            storage::columnar::schema::bars_from_batch(
                &batch,
                "SIM:DLT",
                Interval::MINUTE,
                InstrumentId(1),
                range,
                &mut back,
            )
            .unwrap();
        }
    }
    let want: Vec<Bar> = rows.into_iter().map(|(_, b)| b).collect();
    assert_eq!(back.len(), want.len());
    assert!(back == want, "the bars read back differ from those written");
}

#[test]
fn compaction_merges_a_days_files_and_retention_spares_imports() {
    let (dir, store, registry) = setup();
    let a = registry.intern("SIM:AAA").unwrap();
    let config = StorageConfig {
        compact_files: 2,
        ..StorageConfig::default()
    };
    let stats = Arc::new(WriterStats::default());
    let mut persister = Persister::new(store.clone(), config, State::default(), stats.clone());
    for cycle in 0..4 {
        let events = (0..5)
            .map(|i| final_event(bar(a, Interval::SECOND, DAY + (cycle * 5 + i) * S, 100), 1));
        store.apply(events, &mut Vec::new(), None);
        persister.persist().unwrap();
    }
    assert_eq!(
        store
            .lock()
            .catalog
            .files(Dataset::Bars(Interval::SECOND))
            .len(),
        4
    );
    let before = query_bars(
        &store,
        &query("SIM:AAA", "1s", DAY, DAY + 60 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    // "Today" is the bars' day: more than compact_files files are merged.
    persister.compact(DAY + 3600 * S).unwrap();
    let files = store
        .lock()
        .catalog
        .files(Dataset::Bars(Interval::SECOND))
        .to_vec();
    assert_eq!(files.len(), 1);
    let on_disk = std::fs::read_dir(files[0].path.parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(on_disk, 1);
    let after = query_bars(
        &store,
        &query("SIM:AAA", "1s", DAY, DAY + 60 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(after.rows, before.rows);

    // An imported file on the same day survives retention; the engine's files do not.
    let imported = write_bar_files(
        dir.path(),
        Interval::SECOND,
        vec![("SIM:AAA".into(), bar(a, Interval::SECOND, DAY + 100 * S, 1))],
        1,
        "import-1.parquet",
    )
    .unwrap();
    let mut catalog = (*store.lock().catalog).clone();
    catalog.add(
        Dataset::Bars(Interval::SECOND),
        Arc::new(FileMeta::load(&imported[0]).unwrap()),
    );
    store.lock().catalog = Arc::new(catalog);
    let removed = persister.expire(DAY + 40 * 86_400 * S).unwrap();
    assert_eq!(removed, 1);
    assert!(imported[0].exists());
    assert!(!files[0].path.exists());
}

#[test]
fn a_closed_month_of_minute_bars_is_merged_into_one_month_file() {
    // 2024-01-30T00:00:00Z, two days before February.
    const JAN30: i64 = 1_706_572_800 * S;
    const DAY_NS: i64 = 86_400 * S;
    const ROWS: usize = 1_000_000;
    let (dir, store, registry) = setup();
    let a = registry.intern("SIM:AAA").unwrap();
    let b = registry.intern("SIM:BBB").unwrap();
    let stats = Arc::new(WriterStats::default());
    let config = StorageConfig::default();
    let mut persister = Persister::new(store.clone(), config, State::default(), stats);
    // Three days (Jan 30, Jan 31, Feb 1) of 1m and 1s bars, persisted over two cycles.
    for cycle in 0..2 {
        let events = (0..3).flat_map(|day| {
            let ts = JAN30 + day * DAY_NS + cycle * 60 * S;
            [a, b].into_iter().flat_map(move |id| {
                [
                    final_event(bar(id, Interval::MINUTE, ts, 100 + day), 1),
                    final_event(bar(id, Interval::SECOND, ts, 100 + day), 1),
                ]
            })
        });
        store.apply(events, &mut Vec::new(), None);
        persister.persist().unwrap();
    }
    let minute = Dataset::Bars(Interval::MINUTE);
    let range = (JAN30, JAN30 + 3 * DAY_NS);
    let ask = |interval| query("SIM:AAA", interval, range.0, range.1);
    let before_1m = query_bars(&store, &ask("1m"), ROWS, i64::MAX).unwrap();
    let before_1s = query_bars(&store, &ask("1s"), ROWS, i64::MAX).unwrap();
    assert_eq!(before_1m.rows.len(), 6);

    // Feb 1 noon: January has not been over for a day yet, so only past days are merged
    // (today's two files stay until there are more than `compact_files`).
    persister.compact(JAN30 + 2 * DAY_NS + 43_200 * S).unwrap();
    let names = |dataset| -> Vec<String> {
        let catalog = store.lock().catalog.clone();
        catalog
            .files(dataset)
            .iter()
            .map(|f| partition_of(&f.path).unwrap().into_owned())
            .collect()
    };
    assert_eq!(
        names(minute),
        [
            "date=2024-01-30",
            "date=2024-01-31",
            "date=2024-02-01",
            "date=2024-02-01"
        ]
    );

    // Feb 2: January's minute bars become one month file; 1s bars and February stay daily.
    persister.compact(JAN30 + 3 * DAY_NS + 3600 * S).unwrap();
    assert_eq!(names(minute), ["month=2024-01", "date=2024-02-01"]);
    assert_eq!(
        names(Dataset::Bars(Interval::SECOND)),
        ["date=2024-01-30", "date=2024-01-31", "date=2024-02-01"]
    );
    let bars_dir = dir.path().join("bars/1m");
    assert!(!bars_dir.join("date=2024-01-30").exists());
    assert!(!bars_dir.join("date=2024-01-31").exists());
    let after_1m = query_bars(&store, &ask("1m"), ROWS, i64::MAX).unwrap();
    assert_eq!(after_1m.rows, before_1m.rows);
    let hourly = query_bars(&store, &ask("1h"), ROWS, i64::MAX).unwrap();
    assert_eq!(hourly.rows.len(), 3);
    assert_eq!(
        query_bars(&store, &ask("1s"), ROWS, i64::MAX).unwrap().rows,
        before_1s.rows
    );

    // A late amendment of a January bar lands in its day partition, then joins the month
    // file again, its newer version winning.
    let amended = bar(a, Interval::MINUTE, JAN30 + DAY_NS, 555);
    store.apply([final_event(amended, 1)], &mut Vec::new(), None);
    persister.persist().unwrap();
    assert_eq!(
        names(minute),
        ["month=2024-01", "date=2024-01-31", "date=2024-02-01"]
    );
    persister.compact(JAN30 + 3 * DAY_NS + 7200 * S).unwrap();
    assert_eq!(names(minute), ["month=2024-01", "date=2024-02-01"]);
    let rows = query_bars(&store, &ask("1m"), ROWS, i64::MAX).unwrap().rows;
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[2].bar.unwrap().close, amended.close);

    // A restart finds the month file, in order.
    let (scanned, bad) = storage::catalog::Catalog::scan(dir.path());
    assert!(bad.is_empty(), "{bad:?}");
    let parts: Vec<_> = scanned
        .files(minute)
        .iter()
        .map(|f| partition_of(&f.path).unwrap().into_owned())
        .collect();
    assert_eq!(parts, ["month=2024-01", "date=2024-02-01"]);

    // Retention drops a month once all of it is past the cutoff, not before.
    let config = StorageConfig {
        retention: storage::config::RetentionConfig {
            bars_1m_days: 1,
            ..Default::default()
        },
        ..StorageConfig::default()
    };
    let state = State::load(dir.path()).unwrap();
    let mut persister = Persister::new(store.clone(), config, state, Arc::new(Default::default()));
    // Cutoff Feb 1: January's file goes, February's day stays.
    persister.expire(JAN30 + 3 * DAY_NS).unwrap();
    assert_eq!(names(minute), ["date=2024-02-01"]);
    assert!(!bars_dir.join("month=2024-01").exists());
}

/// The rows of each data page of `path`'s first row group (from the offset index).
fn page_rows(path: &std::path::Path) -> Vec<i64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::serialized_reader::ReadOptionsBuilder;

    let options = ReadOptionsBuilder::new().with_page_index().build();
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new_with_options(file, options).unwrap();
    let rows = reader.metadata().row_group(0).num_rows();
    let index = reader.metadata().page_index_for_row_group(0);
    // The `ts` column's pages.
    let firsts: Vec<i64> = index
        .offset_index(1)
        .unwrap()
        .page_locations()
        .iter()
        .map(|p| p.first_row_index)
        .chain([rows])
        .collect();
    firsts.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn month_files_have_larger_pages_than_day_files() {
    // 2024-01-29T00:00:00Z: three whole January days of one instrument's 1m bars.
    const JAN29: i64 = 1_706_486_400 * S;
    let (dir, store, registry) = setup();
    let a = registry.intern("SIM:AAA").unwrap();
    let mut persister = fresh_persister(&store);
    let events = (0..3 * 1440)
        .map(|m| final_event(bar(a, Interval::MINUTE, JAN29 + m * 60 * S, 100 + m % 7), 1));
    store.apply(events, &mut Vec::new(), None);
    persister.persist().unwrap();
    let files = |store: &Store| -> Vec<std::path::PathBuf> {
        let catalog = store.lock().catalog.clone();
        catalog
            .files(Dataset::Bars(Interval::MINUTE))
            .iter()
            .map(|f| f.path.clone())
            .collect()
    };
    let days = files(&store);
    assert_eq!(days.len(), 3);
    assert_eq!(page_rows(&days[0]), [1024, 416]);
    let served = || {
        let ask = query("SIM:AAA", "1m", JAN29, JAN29 + 3 * 86_400 * S);
        query_bars(&store, &ask, 10_000, i64::MAX).unwrap().rows
    };
    let before = served();
    // Feb 2: January is merged into one month file with pages of 4,096 rows.
    persister.compact(JAN29 + 4 * 86_400 * S).unwrap();
    let month = files(&store);
    assert_eq!(month.len(), 1);
    assert!(
        month[0].to_string_lossy().contains("month=2024-01"),
        "{month:?}"
    );
    assert_eq!(page_rows(&month[0]), [4096, 224]);
    let after = served();
    assert_eq!(after.len(), 3 * 1440);
    assert_eq!(after, before);
    drop(dir);
}

#[test]
fn files_of_an_uncommitted_cycle_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::new());
    let a = registry.intern("SIM:AAA").unwrap();
    let committed = write_bar_files(
        dir.path(),
        Interval::SECOND,
        vec![("SIM:AAA".into(), bar(a, Interval::SECOND, DAY, 1))],
        1,
        &part_name(1),
    )
    .unwrap();
    let orphan = write_bar_files(
        dir.path(),
        Interval::SECOND,
        vec![("SIM:AAA".into(), bar(a, Interval::SECOND, DAY + S, 2))],
        2,
        &part_name(2),
    )
    .unwrap();
    State {
        generation: 1,
        ..State::default()
    }
    .commit(dir.path())
    .unwrap();
    let config = StorageConfig {
        enabled: false,
        ..StorageConfig::default()
    };
    let (_writer, store, _state, recovered) =
        storage::writer::open(dir.path(), &config, registry).unwrap();
    assert_eq!(recovered.uncommitted_removed, 1);
    assert!(committed[0].exists() && !orphan[0].exists());
    let rows = query_bars(
        &store,
        &query("SIM:AAA", "1s", DAY, DAY + 10 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(rows.rows.len(), 1);
}

#[test]
fn the_writer_rebuilds_open_bars_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::default();
    let now = engine::clock::now_ns();
    let start = now - now.rem_euclid(60 * S);
    {
        let registry = Arc::new(Registry::new());
        let a = registry.intern("SIM:AAA").unwrap();
        let (mut writer, _store, _state, _) =
            storage::writer::open(dir.path(), &config, registry).unwrap();
        for i in 0..5 {
            writer.on_tick(&trade_tick(a, start + i * 10_000_000, 100 + i));
        }
        writer.on_batch_end();
        writer.close();
    }
    // A new process: other ids, the same names.
    let registry = Arc::new(Registry::new());
    registry.intern("SIM:ZZZ").unwrap();
    let (mut writer, store, _state, recovered) =
        storage::writer::open(dir.path(), &config, registry.clone()).unwrap();
    assert_eq!(recovered.replayed, 5);
    let a = registry.id("SIM:AAA").unwrap();
    // The bar of those five trades closes once the watermark passes its end.
    writer.on_tick(&trade_tick(a, start + 61 * S, 1));
    writer.on_batch_end();
    let got = query_bars(
        &store,
        &query("SIM:AAA", "1m", start, start + 60 * S),
        1000,
        i64::MAX,
    )
    .unwrap();
    assert_eq!(got.rows.len(), 1);
    let b = got.rows[0].bar.unwrap();
    assert_eq!((b.open, b.close, b.trades), (p(100), p(104), Some(5)));
}

#[test]
fn journal_segments_go_once_parquet_holds_their_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        journal: storage::config::JournalSettings {
            segment_mib: 1,
            ..Default::default()
        },
        ..StorageConfig::default()
    };
    let registry = Arc::new(Registry::new());
    let a = registry.intern("SIM:AAA").unwrap();
    let (mut writer, store, state, _) =
        storage::writer::open(dir.path(), &config, registry).unwrap();
    let stats = writer.stats();
    let mut persister = Persister::new(store.clone(), config.clone(), state, stats.clone());
    // About 2.5 MiB of journal: three segments, all in the past so every bar becomes final.
    let start = DAY;
    for i in 0..40_000 {
        writer.on_tick(&trade_tick(a, start + i * 1_000_000, 100));
        if i % 4096 == 4095 {
            writer.on_batch_end();
        }
    }
    writer.on_idle();
    let segments = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("journal"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "wal")
            })
            .count()
    };
    assert!(segments(dir.path()) >= 3);
    persister.persist().unwrap();
    writer.on_idle();
    assert_eq!(segments(dir.path()), 1, "only the active segment is left");
    assert!(stats.segments_deleted.get() >= 2);
    writer.close();
}

#[test]
fn imports_name_their_instrument_when_the_file_does() {
    use storage::backfill::infer_instrument;
    use storage::import::ImportFormat;
    let samples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/history");
    assert_eq!(
        infer_instrument(
            ImportFormat::TardisTrades,
            &samples.join("bitmex_trades_XBTUSD.tardis.csv")
        ),
        Some("BITMEX:XBTUSD".into())
    );
    assert_eq!(
        infer_instrument(
            ImportFormat::BinanceKlines,
            &samples.join("ADABTC-1m-2021-11-27.binance-klines.csv")
        ),
        Some("BINANCE:ADABTC".into())
    );
    assert_eq!(
        infer_instrument(
            ImportFormat::OhlcvCsv,
            &samples.join("btc-perp-20211231-20220201_1m.csv")
        ),
        None
    );
}

#[test]
fn the_columnar_path_serves_the_same_rows_as_the_general_one() {
    use storage::columnar::schema::bars_batch;
    use storage::history::query_bars_columnar;
    let (_dir, store, registry) = setup();
    let a = registry.intern("SIM:AAA").unwrap();
    let b = registry.intern("SIM:BBB").unwrap();
    let mut persister = fresh_persister(&store);
    // Two days in files (many files: the two-thread read), then a few bars in memory.
    for day in 0..2 {
        for chunk in 0..5 {
            let events = (0..6).flat_map(|i| {
                let ts = DAY + day * 86_400 * S + (chunk * 6 + i) * 60 * S;
                [
                    final_event(bar(a, Interval::MINUTE, ts, 100 + i), 1),
                    final_event(bar(b, Interval::MINUTE, ts, 7), 1),
                ]
            });
            store.apply(events, &mut Vec::new(), None);
            persister.persist().unwrap();
        }
    }
    let late = DAY + 2 * 86_400 * S;
    store.apply(
        [final_event(bar(a, Interval::MINUTE, late, 1), 1)],
        &mut Vec::new(),
        None,
    );
    let q = query("SIM:AAA", "1m", DAY, DAY + 3 * 86_400 * S);
    let general = query_bars(&store, &q, 10_000, i64::MAX).unwrap();
    let (columnar, cursor) = query_bars_columnar(&store, &q, 10_000)
        .unwrap()
        .expect("columnar path");
    assert_eq!(general.rows.len(), 61);
    // Several batches (a slice per file, then memory), equal to the general path's rows.
    assert!(columnar.len() > 1);
    let whole = |batches: &[arrow_array::RecordBatch]| {
        arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
    };
    assert_eq!(whole(&columnar), bars_batch(&general.rows, None).unwrap());
    assert_eq!(cursor, None);
    // Paged the same way.
    let mut paged = q.clone();
    paged.range.limit = Some(10);
    let general = query_bars(&store, &paged, 10_000, i64::MAX).unwrap();
    let (columnar, cursor) = query_bars_columnar(&store, &paged, 10_000)
        .unwrap()
        .unwrap();
    assert_eq!(whole(&columnar), bars_batch(&general.rows, None).unwrap());
    assert_eq!(cursor, general.next_cursor);
    // Resampling and fill take the general path.
    assert!(
        query_bars_columnar(&store, &query("SIM:AAA", "5m", DAY, late), 1000)
            .unwrap()
            .is_none()
    );
}
