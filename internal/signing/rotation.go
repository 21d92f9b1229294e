package signing

import (
	"errors"
	"time"
)

// Policy is the rotation schedule the manager enforces.
type Policy struct {
	// Algorithm new keys use. Changing it rotates at once (with the lead).
	Algorithm string
	// Period is how long a key signs before its successor takes over.
	Period time.Duration
	// PublishLead is how long a new key sits in the JWKS before it signs.
	// It should exceed the JWKS cache lifetime of the verifiers.
	PublishLead time.Duration
	// MaxTokenLifetime is the longest access token lifetime: a retired key
	// stays published this long after it stops signing.
	MaxTokenLifetime time.Duration
}

// Validate checks the policy is usable.
func (p Policy) Validate() error {
	switch {
	case p.Period <= 0 || p.PublishLead < 0 || p.MaxTokenLifetime <= 0:
		return errors.New("signing key period and token lifetime must be positive and the publish lead not negative")
	case p.PublishLead >= p.Period:
		return errors.New("signing key publish lead must be shorter than the rotation period")
	}
	for _, a := range Algorithms {
		if a == p.Algorithm {
			return nil
		}
	}
	return errors.New("unsupported signing algorithm " + p.Algorithm)
}

// Plan brings a key set up to date at now under policy p. It returns whether
// anything changed and when Plan next has work to do (zero when never),
// so the caller can requeue at that moment instead of polling.
//
// The steps, each idempotent:
//  1. With no key signing or scheduled, create one that signs at once: there
//     is nothing for verifiers to have cached yet.
//  2. When the current key's period ends within the lead, or its algorithm
//     differs from the policy, and no successor is scheduled, publish a
//     successor that signs after the lead, and schedule the current key's
//     retirement at that moment.
//  3. Drop keys whose verification window has ended.
func Plan(s *KeySet, p Policy, now time.Time) (changed bool, next time.Time, err error) {
	now = now.UTC().Truncate(time.Second)
	if err := p.Validate(); err != nil {
		return false, time.Time{}, err
	}

	kept := s.Keys[:0]
	for _, k := range s.Keys {
		if k.VerifyUntil != nil && !now.Before(*k.VerifyUntil) {
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	s.Keys = kept

	cur := s.Current(now)
	successor := s.successorOf(cur, now)
	if cur == nil && successor == nil {
		k, err := NewKey(p.Algorithm, now, now)
		if err != nil {
			return false, time.Time{}, err
		}
		s.Keys = append(s.Keys, k)
		cur, changed = k, true
	}

	if cur != nil && successor == nil {
		rotateAt := cur.SignFrom.Add(p.Period)
		if cur.Algorithm != p.Algorithm {
			rotateAt = now
		}
		if !now.Before(rotateAt.Add(-p.PublishLead)) {
			signFrom := now.Add(p.PublishLead)
			if rotateAt.After(signFrom) {
				signFrom = rotateAt
			}
			k, err := NewKey(p.Algorithm, now, signFrom)
			if err != nil {
				return false, time.Time{}, err
			}
			retire(cur, k.SignFrom, p.MaxTokenLifetime)
			s.Keys = append(s.Keys, k)
			successor, changed = k, true
		}
	}

	next = s.nextEvent(cur, successor, p, now)
	return changed, next, nil
}

func retire(k *Key, at time.Time, maxTokenLifetime time.Duration) {
	until := at
	verify := at.Add(maxTokenLifetime)
	k.SignUntil, k.VerifyUntil = &until, &verify
}

// successorOf returns a key scheduled to sign after cur (or after now when
// cur is nil).
func (s *KeySet) successorOf(cur *Key, now time.Time) *Key {
	for _, k := range s.Keys {
		if k != cur && k.SignFrom.After(now) && k.SignUntil == nil {
			return k
		}
	}
	return nil
}

// nextEvent is the earliest time at which Plan would change something.
func (s *KeySet) nextEvent(cur, successor *Key, p Policy, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, k := range s.Keys {
		if k.VerifyUntil != nil {
			consider(*k.VerifyUntil)
		}
	}
	switch {
	case successor != nil:
		consider(successor.SignFrom)
		consider(successor.SignFrom.Add(p.Period - p.PublishLead))
	case cur != nil:
		consider(cur.SignFrom.Add(p.Period - p.PublishLead))
	}
	return next
}
