/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Without a dynamic threshold (VLogPercentile 0, the default) the sizes
// of written values are not sent to the threshold's listener: every
// commit used to wake it to update a histogram nothing read.
func TestValueThresholdUpdatesOnlyWhenDynamic(t *testing.T) {
	for _, percentile := range []float64{0, 0.99} {
		opt := DefaultOptions("").WithValueThreshold(32).WithVLogPercentile(percentile)
		opt.maxValueThreshold = 1024
		v := initVlogThreshold(&opt)
		v.update([]int64{10, 2000})
		require.Equal(t, percentile > 0, len(v.valueCh) == 1, "percentile %v", percentile)
	}

	// Writes through a database without one leave the threshold alone.
	dir := t.TempDir()
	db, err := Open(getTestOptions(dir).WithValueThreshold(32))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for i := range 100 {
		require.NoError(t, db.Update(func(txn *Txn) error {
			return txn.Set([]byte{byte(i)}, make([]byte, 10*i))
		}))
	}
	require.Equal(t, int64(32), db.valueThreshold())
	require.NoError(t, db.View(func(txn *Txn) error {
		item, err := txn.Get([]byte{99})
		require.NoError(t, err)
		require.Equal(t, int64(990), item.ValueSize())
		return nil
	}))
}
