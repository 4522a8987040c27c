/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dgraph-io/badger/v4/y"
)

// encodeEntry appends header, key, value and the CRC-32C of those three,
// after whatever the buffer held, and allocates nothing once the buffer
// has room.
func TestEncodeEntryChecksum(t *testing.T) {
	lf := &logFile{}
	for _, e := range []*Entry{
		NewEntry([]byte("foo"), []byte("bar")),
		NewEntry([]byte("k"), nil),
		{Key: []byte("key"), Value: bytes.Repeat([]byte("v"), 5000), ExpiresAt: 1 << 40, UserMeta: 7, meta: bitTxn},
	} {
		buf := bytes.NewBufferString("earlier bytes")
		n, err := lf.encodeEntry(buf, e, 0)
		require.NoError(t, err)
		got := buf.Bytes()[len("earlier bytes"):]
		require.Equal(t, n, len(got))

		h := header{klen: uint32(len(e.Key)), vlen: uint32(len(e.Value)), expiresAt: e.ExpiresAt, meta: e.meta, userMeta: e.UserMeta}
		var hb [maxHeaderSize]byte
		want := append([]byte(nil), hb[:h.Encode(hb[:])]...)
		want = append(want, e.Key...)
		want = append(want, e.Value...)
		want = binary.BigEndian.AppendUint32(want, crc32.Checksum(want, y.CastagnoliCrcTable))
		require.Equal(t, want, got)

		s := safeRead{lf: lf}
		ne, err := s.Entry(bytes.NewReader(got))
		require.NoError(t, err)
		require.Equal(t, e.Key, ne.Key)
		require.Equal(t, len(e.Value), len(ne.Value))

		got[len(got)/2] ^= 1
		_, err = (&safeRead{lf: lf}).Entry(bytes.NewReader(got))
		require.Error(t, err)
	}

	e := NewEntry([]byte("key"), []byte("value"))
	buf := bytes.NewBuffer(make([]byte, 0, 1024))
	allocs := testing.AllocsPerRun(100, func() {
		buf.Reset()
		_, _ = lf.encodeEntry(buf, e, 0)
	})
	require.Zero(t, allocs)
}
