package kvsm

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Every error this package returns that one of them
// describes wraps it, so errors.Is is the way to classify.
var (
	// ErrNotFound means the key is absent or expired as of the reader's
	// clock (HTTP 404).
	ErrNotFound = errors.New("kvsm: key not found")
	// ErrExpiredByClock wraps ErrNotFound: the key expired by the
	// reader's clock, but the group has not recorded a time that late
	// (Store.Floor). A leader with a clock behind the reader's would
	// still show the key: a linearizable read records the time (an
	// expire command) before it answers that the key is gone.
	ErrExpiredByClock = fmt.Errorf("%w: expired by this node's clock, not yet by the group's", ErrNotFound)
	// ErrInvalid means an argument or command broke a rule of Workers KV
	// (HTTP 400, or 413/414 for sizes: see HTTPStatus). Each such error is an
	// *InvalidError naming the field and the rule.
	ErrInvalid = errors.New("kvsm: invalid argument")
	// ErrStorage means badger failed, or the stored data is not what this
	// package wrote. In a Result it means the entry was not applied (HTTP
	// 500).
	ErrStorage = errors.New("kvsm: storage failure")
	// ErrUnavailable means the group's state is not usable: a Restore is
	// running or failed. Only a successful Restore (or Open, which rolls an
	// interrupted restore back to an empty group) clears it (HTTP 503).
	ErrUnavailable = errors.New("kvsm: group state unavailable (restore in progress or failed)")
	// ErrStaleOwner means an object batch was not applied because the
	// term of its log entry is not the batch's epoch: it was proposed by
	// an owner that no longer leads in the term it opened the object in.
	// Like ErrInvalid, every replica rejects it and the entry counts as
	// applied.
	ErrStaleOwner = errors.New("kvsm: stale object owner (the epoch is not the entry's term)")
)

// InvalidError is the error for a broken rule. errors.Is(err, ErrInvalid)
// holds for every *InvalidError.
type InvalidError struct {
	// Field names what was wrong: "namespace", "key", "value", "metadata",
	// "expiration", "expirationTtl", "limit", "cursor" or "command".
	Field string
	// Reason says which rule it broke, with the limit and the actual value
	// where there is one.
	Reason string
	// Status is the HTTP status Cloudflare answers: 400, 413 (value or
	// metadata too large) or 414 (key too long).
	Status int
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrInvalid.Error(), e.Field, e.Reason)
}

// Is makes every *InvalidError match ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field string, status int, format string, args ...any) *InvalidError {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...), Status: status}
}

// HTTPStatus maps an error of this package to the status the KV HTTP API
// answers: 200 for nil, 404 ErrNotFound, 400/413/414 ErrInvalid, 503
// ErrUnavailable, 409 ErrStaleOwner, 500 anything else.
func HTTPStatus(err error) int {
	var ie *InvalidError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &ie):
		return ie.Status
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrStaleOwner):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func storageErr(err error) error {
	if errors.Is(err, ErrStorage) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}
