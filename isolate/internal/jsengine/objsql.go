package jsengine

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// A Durable Object's SQL storage (ctx.storage.sql) is a SQLite database
// (ncruces/go-sqlite3: SQLite translated to Go, no cgo) per live instance,
// whose file is the object's pages (contract.SQLPageKey): read from the
// node as SQLite asks for them (OpStoragePages, a few at a time), written
// in the instance's memory, and handed to the event's storage batch
// whenever SQLite is back in autocommit, after each exec and at the end of
// a transactionSync. A batch commits atomically, so the stored database is
// always one SQLite committed; the journal is in memory (the file opens as
// a memory database), the rollback of a failed statement happens there.
// One commit may change at most sqlMaxCommitPages pages (they must fit one
// batch); a statement that would change more fails with SQLITE_FULL and is
// rolled back. A page SQLite truncates away stays stored until it is
// written again or deleteAll (it is past the file's size, never read).

const (
	sqlPageSize = contract.SQLPageSize
	// sqlPageEntryBytes is what a page takes of a storage batch, its key
	// included; sqlMaxCommitPages bounds the pages one commit changes,
	// which must fit one batch (contract.MaxStorageBatchBytes).
	sqlPageEntryBytes = sqlPageSize + len(contract.SQLPagePrefix) + 4
	sqlMaxCommitPages = contract.MaxStorageBatchBytes / sqlPageEntryBytes
	// sqlReadAhead is how many pages one read from the node asks for.
	sqlReadAhead = 32
	// sqlCacheBytes bounds the pages an instance keeps between events.
	sqlCacheBytes = 16 << 20
	// sqlHeapLimit bounds SQLite's own memory (its page cache, sorts,
	// statements) per instance; sqlTempBytes its temporary files.
	sqlHeapLimit = 16 << 20
	sqlTempBytes = 16 << 20
	// Cloudflare's bounds: a string, blob or row of 2 MB, a statement of
	// 100 KB, 100 bound parameters, 100 columns.
	sqlMaxValueBytes = 2_000_000
	sqlMaxQueryBytes = 100_000
	sqlMaxBindings   = 100
	sqlMaxColumns    = 100
	// sqlMaxResultBytes bounds what one exec returns, each row counted
	// sqlRowBytes over its values (what its array costs the JS heap).
	sqlMaxResultBytes = 32 << 20
	sqlRowBytes       = 128
)

const sqlVFSName = "warren-do"

// sqlFiles are the open databases' files by name, for the VFS.
var (
	sqlFiles    sync.Map // string -> *sqlFile
	sqlSeq      atomic.Uint64
	sqlRegister sync.Once
)

// sqlDB is a live instance's database.
type sqlDB struct {
	conn     *sqlite3.Conn
	f        *sqlFile
	name     string
	depth    int  // transactionSync nesting
	internal bool // our own SAVEPOINT and RELEASE are being prepared
}

// sqlFile is the database file: the pages known (read or written) and
// those written since the last hand-over.
type sqlFile struct {
	fetch func(from, count uint32) ([]contract.StoragePage, error)
	pages map[uint32][]byte
	dirty map[uint32]bool
	size  int64
	// allKnown: every page is in pages (a new database, or deleteAll in
	// this instance), so a missing one is zeros and the node is not asked.
	allKnown bool
	err      error // the first failure to read from the node
	temp     int   // bytes of temporary files
	// overflowed: a write was refused since the last hand-over, the
	// commit changing more than sqlMaxCommitPages pages.
	overflowed bool
}

func (f *sqlFile) page(no uint32) ([]byte, error) {
	if p, ok := f.pages[no]; ok {
		return p, nil
	}
	if f.allKnown {
		return nil, nil
	}
	last := uint32(f.size / sqlPageSize)
	count := min(uint32(sqlReadAhead), last-no+1)
	got, err := f.fetch(no, count)
	if err != nil {
		if f.err == nil {
			f.err = err
		}
		return nil, sqlite3.IOERR_READ
	}
	for _, p := range got {
		if _, ok := f.pages[p.No]; !ok && p.No >= no && p.No <= last && len(p.Data) == sqlPageSize {
			f.pages[p.No] = p.Data
		}
	}
	for n := no; n < no+count; n++ {
		if _, ok := f.pages[n]; !ok {
			f.pages[n] = nil // known absent: zeros
		}
	}
	return f.pages[no], nil
}

func (f *sqlFile) ReadAt(b []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) {
		pos := off + int64(n)
		if pos >= f.size {
			clear(b[n:])
			return n, io.EOF
		}
		p, err := f.page(uint32(pos/sqlPageSize) + 1)
		if err != nil {
			return n, err
		}
		in := int(pos % sqlPageSize)
		m := min(len(b)-n, sqlPageSize-in)
		if p == nil {
			clear(b[n : n+m])
		} else {
			copy(b[n:n+m], p[in:])
		}
		n += m
	}
	return n, nil
}

func (f *sqlFile) WriteAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > contract.MaxSQLPages*sqlPageSize {
		return 0, sqlite3.FULL
	}
	n := 0
	for n < len(b) {
		pos := off + int64(n)
		no := uint32(pos/sqlPageSize) + 1
		if !f.dirty[no] && len(f.dirty) >= sqlMaxCommitPages {
			f.overflowed = true
			return n, sqlite3.FULL
		}
		in := int(pos % sqlPageSize)
		m := min(len(b)-n, sqlPageSize-in)
		p := f.pages[no]
		if p == nil {
			if m < sqlPageSize && pos < f.size {
				old, err := f.page(no)
				if err != nil {
					return n, err
				}
				p = slices.Clone(old)
			}
			if p == nil {
				p = make([]byte, sqlPageSize)
			}
			f.pages[no] = p
		}
		copy(p[in:], b[n:n+m])
		f.dirty[no] = true
		n += m
	}
	f.size = max(f.size, off+int64(len(b)))
	return n, nil
}

func (f *sqlFile) Truncate(size int64) error {
	if size >= f.size {
		f.size = size
		return nil
	}
	f.size = size
	keep := uint32((size + sqlPageSize - 1) / sqlPageSize)
	for no := range f.pages {
		if no > keep {
			delete(f.pages, no)
			delete(f.dirty, no)
		}
	}
	if in := size % sqlPageSize; in != 0 {
		if p := f.pages[keep]; p != nil {
			clear(p[in:])
		}
	}
	return nil
}

func (f *sqlFile) Close() error                     { return nil }
func (f *sqlFile) Sync(vfs.SyncFlag) error          { return nil }
func (f *sqlFile) Size() (int64, error)             { return f.size, nil }
func (f *sqlFile) Lock(vfs.LockLevel) error         { return nil }
func (f *sqlFile) Unlock(vfs.LockLevel) error       { return nil }
func (f *sqlFile) CheckReservedLock() (bool, error) { return false, nil }
func (f *sqlFile) SectorSize() int                  { return sqlPageSize }
func (f *sqlFile) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_ATOMIC | vfs.IOCAP_SEQUENTIAL | vfs.IOCAP_SAFE_APPEND | vfs.IOCAP_POWERSAFE_OVERWRITE
}

// cachedBytes is what the known pages hold.
func (f *sqlFile) cachedBytes() int { return len(f.pages) * sqlPageSize }

// tempFile is a temporary file of SQLite (a sort, a statement journal),
// in memory, its growth counted in its database's temp.
type tempFile struct {
	f *sqlFile
	b []byte
}

func (t *tempFile) ReadAt(b []byte, off int64) (int, error) {
	if off >= int64(len(t.b)) {
		return 0, io.EOF
	}
	n := copy(b, t.b[off:])
	if n < len(b) {
		clear(b[n:])
		return n, io.EOF
	}
	return n, nil
}

func (t *tempFile) WriteAt(b []byte, off int64) (int, error) {
	end := off + int64(len(b))
	if end > int64(len(t.b)) {
		grow := int(end) - len(t.b)
		if t.f.temp+grow > sqlTempBytes {
			return 0, sqlite3.FULL
		}
		t.f.temp += grow
		t.b = append(t.b, make([]byte, grow)...)
	}
	return copy(t.b[off:], b), nil
}

func (t *tempFile) Truncate(size int64) error {
	if size < int64(len(t.b)) {
		t.f.temp -= len(t.b) - int(size)
		t.b = t.b[:size]
	}
	return nil
}

func (t *tempFile) Close() error {
	t.f.temp -= len(t.b)
	t.b = nil
	return nil
}
func (t *tempFile) Sync(vfs.SyncFlag) error          { return nil }
func (t *tempFile) Size() (int64, error)             { return int64(len(t.b)), nil }
func (t *tempFile) Lock(vfs.LockLevel) error         { return nil }
func (t *tempFile) Unlock(vfs.LockLevel) error       { return nil }
func (t *tempFile) CheckReservedLock() (bool, error) { return false, nil }
func (t *tempFile) SectorSize() int                  { return 0 }
func (t *tempFile) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return 0
}

// sqlVFS opens the files of sqlFiles; a database's temporary files are
// tempFiles; nothing else opens (no ATTACH of a file, no VACUUM INTO).
type sqlVFS struct{}

func (sqlVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	v, ok := sqlFiles.Load(strings.TrimPrefix(name, "/"))
	if !ok {
		return nil, flags, sqlite3.CANTOPEN
	}
	f := v.(*sqlFile)
	switch {
	case flags&vfs.OPEN_MAIN_DB != 0:
		return f, flags | vfs.OPEN_MEMORY, nil
	case flags&(vfs.OPEN_TEMP_JOURNAL|vfs.OPEN_SUBJOURNAL|vfs.OPEN_TEMP_DB|vfs.OPEN_TRANSIENT_DB) != 0:
		return &tempFile{f: f}, flags | vfs.OPEN_MEMORY, nil
	}
	return nil, flags, sqlite3.CANTOPEN
}

func (sqlVFS) Delete(string, bool) error { return sqlite3.IOERR_DELETE_NOENT }

func (sqlVFS) Access(string, vfs.AccessFlag) (bool, error) { return false, nil }

func (sqlVFS) FullPathname(name string) (string, error) { return name, nil }

// pragmasAllowed are the PRAGMAs a Worker may run (reading the schema,
// checking it, foreign keys); the others would change how the database is
// kept (page size, journal, limits).
var pragmasAllowed = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "foreign_key_check": true, "quick_check": true,
	"integrity_check": true, "defer_foreign_keys": true, "foreign_keys": true, "optimize": true,
	"data_version": true, "collation_list": true, "function_list": true, "pragma_list": true, "module_list": true,
}

// openSQL opens the instance's database (creating the file's state from
// the node's pages as they are read).
func (o *liveObject) openSQL() (*sqlDB, error) {
	sqlRegister.Do(func() { vfs.Register(sqlVFSName, sqlVFS{}) })
	l := o.l
	f := &sqlFile{pages: map[uint32][]byte{}, dirty: map[uint32]bool{}, allKnown: o.sqlFresh}
	f.fetch = func(from, count uint32) ([]contract.StoragePage, error) {
		rep, err := l.hostSync(&contract.HostCall{Op: contract.OpStoragePages, Pages: &contract.PageRange{From: from, Count: count}})
		if err != nil {
			return nil, err
		}
		return rep.Pages, nil
	}
	if !f.allKnown {
		// The file's size is in its first page's header (the database
		// size in pages, at offset 28), or 0 for a new database.
		f.size = contract.MaxSQLPages * sqlPageSize
		p, err := f.page(1)
		if err != nil {
			return nil, fmt.Errorf("reading the SQL database: %w", cmp.Or(f.err, err))
		}
		f.size = 0
		if p != nil {
			f.size = int64(binary.BigEndian.Uint32(p[28:32])) * sqlPageSize
		}
		for no := range f.pages {
			if int64(no-1)*sqlPageSize >= f.size {
				delete(f.pages, no)
			}
		}
	}
	d := &sqlDB{f: f, name: fmt.Sprintf("do-%d", sqlSeq.Add(1))}
	sqlFiles.Store(d.name, f)
	conn, err := sqlite3.OpenFlags("file:/"+d.name+"?vfs="+sqlVFSName, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI)
	if err != nil {
		sqlFiles.Delete(d.name)
		return nil, err
	}
	d.conn = conn
	conn.HardHeapLimit(sqlHeapLimit)
	for c, v := range map[sqlite3.LimitCategory]int{
		sqlite3.LIMIT_LENGTH: sqlMaxValueBytes, sqlite3.LIMIT_SQL_LENGTH: sqlMaxQueryBytes,
		sqlite3.LIMIT_VARIABLE_NUMBER: sqlMaxBindings, sqlite3.LIMIT_COLUMN: sqlMaxColumns,
		sqlite3.LIMIT_ATTACHED: 0, sqlite3.LIMIT_TRIGGER_DEPTH: 32,
	} {
		conn.Limit(c, v)
	}
	if _, err := conn.Config(sqlite3.DBCONFIG_DEFENSIVE, true); err != nil {
		d.close()
		return nil, err
	}
	if err := conn.Exec(fmt.Sprintf("PRAGMA page_size=%d; PRAGMA max_page_count=%d; PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=ON; PRAGMA cache_size=-2000",
		sqlPageSize, contract.MaxSQLPages)); err != nil {
		d.close()
		return nil, err
	}
	if err := conn.SetAuthorizer(d.authorize); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// sqlCodeNames name SQLite's primary result codes as Cloudflare's messages
// end with them.
var sqlCodeNames = map[sqlite3.ErrorCode]string{
	sqlite3.ERROR: "SQLITE_ERROR", sqlite3.INTERNAL: "SQLITE_INTERNAL", sqlite3.PERM: "SQLITE_PERM",
	sqlite3.ABORT: "SQLITE_ABORT", sqlite3.BUSY: "SQLITE_BUSY", sqlite3.NOMEM: "SQLITE_NOMEM",
	sqlite3.READONLY: "SQLITE_READONLY", sqlite3.INTERRUPT: "SQLITE_INTERRUPT", sqlite3.IOERR: "SQLITE_IOERR",
	sqlite3.CORRUPT: "SQLITE_CORRUPT", sqlite3.FULL: "SQLITE_FULL", sqlite3.CANTOPEN: "SQLITE_CANTOPEN",
	sqlite3.SCHEMA: "SQLITE_SCHEMA", sqlite3.TOOBIG: "SQLITE_TOOBIG", sqlite3.CONSTRAINT: "SQLITE_CONSTRAINT",
	sqlite3.MISMATCH: "SQLITE_MISMATCH", sqlite3.MISUSE: "SQLITE_MISUSE", sqlite3.AUTH: "SQLITE_AUTH",
	sqlite3.RANGE: "SQLITE_RANGE",
}

// sqlMessage is SQLite's message for err, as Cloudflare words it:
// "no such table: t: SQLITE_ERROR".
func sqlMessage(err error) string {
	var code sqlite3.ErrorCode
	var msg string
	var e *sqlite3.Error
	switch {
	case errors.As(err, &e):
		code = e.Code()
		msg = strings.TrimPrefix(strings.TrimPrefix(e.Error(), code.Error()), ": ")
	case errors.As(err, &code):
	default:
		return err.Error()
	}
	if msg == "" {
		msg = strings.TrimPrefix(code.Error(), "sqlite3: ")
	}
	if name, ok := sqlCodeNames[code]; ok {
		return msg + ": " + name
	}
	return msg
}

// authorize refuses what a Worker may not do: other databases, PRAGMAs
// that are not read-only, and transactions other than transactionSync's.
func (d *sqlDB) authorize(action sqlite3.AuthorizerActionCode, name3rd, name4th, schema, inner string) sqlite3.AuthorizerReturnCode {
	switch action {
	case sqlite3.AUTH_ATTACH, sqlite3.AUTH_DETACH:
		return sqlite3.AUTH_DENY
	case sqlite3.AUTH_PRAGMA:
		if !pragmasAllowed[strings.ToLower(name3rd)] {
			return sqlite3.AUTH_DENY
		}
	case sqlite3.AUTH_TRANSACTION, sqlite3.AUTH_SAVEPOINT:
		if !d.internal {
			return sqlite3.AUTH_DENY
		}
	}
	return sqlite3.AUTH_OK
}

func (d *sqlDB) close() {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	sqlFiles.Delete(d.name)
}

// closeSQL closes the instance's database, if open.
func (o *liveObject) closeSQL() {
	if o.sql != nil {
		o.sql.close()
		o.sql = nil
	}
}

// sqlOf returns the instance's database, opening it on first use.
func (l *loop) sqlOf() *sqlDB {
	o := l.obj
	if o == nil {
		l.throwError("TypeError", "SQL storage is only available in a Durable Object")
	}
	if o.sql == nil {
		d, err := o.openSQL()
		if err != nil {
			l.storageFailed(err)
		}
		o.sql = d
	}
	return o.sql
}

// withInterrupt runs f with the database's interrupt set to a context the
// loop's limits cancel (l.interrupt calls sqlStop): SQLite checks it as it
// runs, so a query that runs away ends at the call's CPU or wall limit.
func (l *loop) withInterrupt(d *sqlDB, f func() error) error {
	if h := l.hit.Load(); h != nil {
		return h
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	stop := func() { cancel() }
	l.sqlStop.Store(&stop)
	defer l.sqlStop.Store(nil)
	if l.hit.Load() != nil { // the limit fell between the check and the store
		cancel()
	}
	d.conn.SetInterrupt(ctx)
	defer d.conn.SetInterrupt(context.Background())
	return f()
}

// sqlError throws err as the guest's exception: a limit's own when one
// ended the statement, a storage failure as such, else an Error with
// SQLite's message.
func (l *loop) sqlError(d *sqlDB, err error, tooMany bool) {
	if h := l.hit.Load(); h != nil {
		l.throwError("Error", h.msg)
	}
	if d.f.err != nil {
		l.storageFailed(d.f.err)
	}
	msg := sqlMessage(err)
	if tooMany {
		msg = fmt.Sprintf("database or disk is full: one statement or transactionSync may change at most %d pages (%d KiB) of the SQL database: SQLITE_FULL", sqlMaxCommitPages, sqlMaxCommitPages*sqlPageSize>>10)
	}
	l.throwError("Error", msg)
}

// handOver moves the pages written since the last hand-over into the
// event's storage batch, once SQLite is back in autocommit (its
// transaction committed, or rolled back: then they hold what they held).
func (l *loop) handOver(d *sqlDB) {
	if !d.conn.GetAutocommit() {
		return
	}
	d.f.overflowed = false
	if len(d.f.dirty) == 0 {
		return
	}
	nos := make([]uint32, 0, len(d.f.dirty))
	for no := range d.f.dirty {
		nos = append(nos, no)
	}
	slices.Sort(nos)
	l.makeRoom(len(nos)*sqlPageEntryBytes, len(nos))
	s := &l.obj.store
	if s.pages == nil {
		s.pages = map[uint32][]byte{}
	}
	for _, no := range nos {
		data := make([]byte, sqlPageSize)
		copy(data, d.f.pages[no])
		if _, ok := s.pages[no]; ok {
			s.dirtyBytes -= sqlPageEntryBytes
		}
		s.pages[no] = data
		s.dirtyBytes += sqlPageEntryBytes
	}
	clear(d.f.dirty)
	l.trimSQLCache(d)
}

// trimSQLCache keeps the pages an instance holds within sqlCacheBytes:
// past it, every page the node would give back as it is goes (those
// written since the last hand-over, and those handed over but not
// committed, stay; nothing goes while a deleteAll is not committed, the
// node still having the pages it deletes).
func (l *loop) trimSQLCache(d *sqlDB) {
	f, s := d.f, &l.obj.store
	if f.cachedBytes() <= sqlCacheBytes || s.deleteAll {
		return
	}
	for no := range f.pages {
		if _, pending := s.pages[no]; no != 1 && !f.dirty[no] && !pending {
			delete(f.pages, no)
		}
	}
	f.allKnown = false
}

// sqlValue is a column's value as the guest sees it, and what it adds to
// the result's size.
func (l *loop) sqlValue(st *sqlite3.Stmt, i int) (goja.Value, int) {
	vm := l.vm
	switch st.ColumnType(i) {
	case sqlite3.INTEGER:
		return vm.ToValue(st.ColumnInt64(i)), 8
	case sqlite3.FLOAT:
		return vm.ToValue(st.ColumnFloat(i)), 8
	case sqlite3.TEXT:
		s := st.ColumnText(i)
		return vm.ToValue(s), len(s) + 16
	case sqlite3.BLOB:
		b := st.ColumnBlob(i, nil)
		return l.api.NewArrayBuffer(b), len(b) + 16
	}
	return goja.Null(), 8
}

// bind binds the next values of args to st's parameters.
func (l *loop) bind(st *sqlite3.Stmt, args []goja.Value, next *int) error {
	n := st.BindCount()
	if *next+n > len(args) {
		return fmt.Errorf("the query takes more values than the %d given", len(args))
	}
	for i := 1; i <= n; i++ {
		v := args[*next]
		*next++
		var err error
		switch x := v.Export().(type) {
		case nil:
			err = st.BindNull(i)
		case bool:
			err = st.BindBool(i, x)
		case int64:
			err = st.BindInt64(i, x)
		case float64:
			if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
				err = st.BindInt64(i, int64(x))
			} else {
				err = st.BindFloat(i, x)
			}
		case string:
			if len(x) > sqlMaxValueBytes {
				return fmt.Errorf("a string of %d bytes is more than a value may hold (%d)", len(x), sqlMaxValueBytes)
			}
			err = st.BindText(i, x)
		case goja.ArrayBuffer:
			err = st.BindBlob(i, x.Bytes())
		case *big.Int:
			if !x.IsInt64() {
				return fmt.Errorf("the BigInt %s is outside SQLite's 64-bit integers", x)
			}
			err = st.BindInt64(i, x.Int64())
		default:
			if b, ok := l.api.BufferSource(v); ok {
				if len(b) > sqlMaxValueBytes {
					return fmt.Errorf("a blob of %d bytes is more than a value may hold (%d)", len(b), sqlMaxValueBytes)
				}
				err = st.BindBlob(i, b)
			} else {
				return fmt.Errorf("a value of type %s cannot be bound to a query (numbers, strings, ArrayBuffers, null)", v.ExportType())
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sqlExec runs query's statements with args bound in order, and returns
// the last statement's column names and rows, the rows read and written.
func (l *loop) sqlExec(query string, args []goja.Value) goja.Value {
	d := l.sqlOf()
	vm := l.vm
	if len(query) > sqlMaxQueryBytes {
		l.throwError("Error", fmt.Sprintf("the SQL query is %d bytes, more than %d", len(query), sqlMaxQueryBytes))
	}
	var cols []any
	var rows []any
	read, written, size, next := 0, int64(0), 0, 0
	err := l.withInterrupt(d, func() error {
		tail := query
		for strings.TrimSpace(tail) != "" {
			st, rest, err := d.conn.Prepare(tail)
			if err != nil {
				return err
			}
			tail = rest
			if st == nil { // a comment or whitespace
				continue
			}
			err = l.runStmt(st, args, &next, func(n int) {
				cols = make([]any, n)
				for i := range n {
					cols[i] = st.ColumnName(i)
				}
				rows = rows[:0]
			}, func() error {
				row := make([]any, st.ColumnCount())
				size += sqlRowBytes
				for i := range row {
					v, n := l.sqlValue(st, i)
					row[i] = v
					size += n
				}
				if size > sqlMaxResultBytes {
					return fmt.Errorf("the query's result is more than %d MiB", sqlMaxResultBytes>>20)
				}
				rows = append(rows, vm.NewArray(row...))
				read++
				return nil
			})
			if !st.ReadOnly() {
				written += d.conn.Changes()
			}
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		if next < len(args) {
			return fmt.Errorf("the query takes %d values, fewer than the %d given", next, len(args))
		}
		return nil
	})
	tooMany := errors.Is(err, sqlite3.FULL) && d.f.overflowed
	l.handOver(d)
	if err != nil {
		l.sqlError(d, err, tooMany)
	}
	if cols == nil {
		cols = []any{}
	}
	return vm.NewArray(vm.NewArray(cols...), vm.NewArray(rows...), read, written)
}

// runStmt binds st and steps it to its end: head is told the column count
// when it has columns, row is called for each row.
func (l *loop) runStmt(st *sqlite3.Stmt, args []goja.Value, next *int, head func(int), row func() error) error {
	if err := l.bind(st, args, next); err != nil {
		return err
	}
	if n := st.ColumnCount(); n > 0 {
		head(n)
	}
	for st.Step() {
		if st.ColumnCount() > 0 {
			if err := row(); err != nil {
				return err
			}
		}
	}
	return st.Err()
}

// sqlTxn begins (begin) or ends a transactionSync: a savepoint, released
// or rolled back to; its pages are handed over when the outermost ends.
func (l *loop) sqlTxn(begin, commit bool) {
	d := l.sqlOf()
	var q string
	switch {
	case begin:
		d.depth++
		q = fmt.Sprintf("SAVEPOINT warren_txn_%d", d.depth)
	case commit:
		q = fmt.Sprintf("RELEASE warren_txn_%d", d.depth)
		d.depth--
	default:
		q = fmt.Sprintf("ROLLBACK TO warren_txn_%d; RELEASE warren_txn_%d", d.depth, d.depth)
		d.depth--
	}
	d.internal = true
	err := l.withInterrupt(d, func() error { return d.conn.Exec(q) })
	d.internal = false
	if err != nil {
		l.sqlError(d, err, false)
	}
	if d.depth == 0 {
		l.handOver(d)
	}
}

// sqlSize is the database's size in bytes (ctx.storage.sql.databaseSize).
func (l *loop) sqlSize() int64 { return l.sqlOf().f.size }

// sqlPrimitives adds the SQL primitives to p (see the prelude's makeSql).
func (l *loop) sqlPrimitives(p *goja.Object) {
	_ = p.Set("sqlExec", func(call goja.FunctionCall) goja.Value {
		q := call.Argument(0).String()
		var args []goja.Value
		if o, ok := call.Argument(1).(*goja.Object); ok {
			n := int(o.Get("length").ToInteger())
			if n > sqlMaxBindings {
				l.throwError("RangeError", fmt.Sprintf("a query may bind at most %d values, not %d", sqlMaxBindings, n))
			}
			for i := range n {
				args = append(args, o.Get(fmt.Sprint(i)))
			}
		}
		return l.sqlExec(q, args)
	})
	_ = p.Set("sqlSize", func() int64 { return l.sqlSize() })
	_ = p.Set("sqlTxn", func(begin, commit bool) { l.sqlTxn(begin, commit) })
}

// endSQLEvent ends an event for the database, its writes taken (the node
// commits them before the next event reads): a deleteAll made in it is
// the node's, and the cache is trimmed to its bound.
func (o *liveObject) endSQLEvent() {
	o.sqlFresh = false
	if o.sql != nil {
		o.l.trimSQLCache(o.sql)
	}
}
