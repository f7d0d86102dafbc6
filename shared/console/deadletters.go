package console

import (
	"context"
	"fmt"
	"net/http"

	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/stack"
)

// deadLettersView is a destination's dead-letter section on its page: the last count or
// replay an owner asked for, as GET …/dead-letters and POST …/dead-letters/replay answer them.
type deadLettersView struct {
	Count    *delivery.DeadLetterCount
	Replayed *delivery.ReplayResult
}

// countDeadLetters is the "Count dead letters" button: the destination's copies in the
// dead-letter queue by reason and by last failure, audited as destination.deadletters.read.
// It is a POST because the count receives every message of the queue in turn.
func (c *Console) countDeadLetters(w http.ResponseWriter, r *http.Request) error {
	return c.onDeadLetters(w, r, stack.RouteCountDeadLetters, "dead-letters", func(ctx context.Context, ws, dst string, v *deadLettersView) error {
		n, err := c.DeadLetters.Count(ctx, ws, dst)
		if err != nil {
			return fmt.Errorf("count the dead letters of %s: %w", dst, err)
		}
		v.Count = &n
		return nil
	})
}

// replayDeadLetters is the "Replay dead letters" button: the destination's dead letters go back
// to the delivery queue with fresh attempts, audited as destination.deadletters.replay.
func (c *Console) replayDeadLetters(w http.ResponseWriter, r *http.Request) error {
	return c.onDeadLetters(w, r, stack.RouteReplayDeadLetters, "dead-letters/replay", func(ctx context.Context, ws, dst string, v *deadLettersView) error {
		res, err := c.DeadLetters.Replay(ctx, ws, dst)
		if err != nil {
			return fmt.Errorf("replay the dead letters of %s: %w", dst, err)
		}
		v.Replayed = &res
		return nil
	})
}

// onDeadLetters runs fn as route on the request's destination (audited with the route's target,
// the destination's path and then below) and renders its page with the result in the
// dead-letter section.
func (c *Console) onDeadLetters(w http.ResponseWriter, r *http.Request, route stack.Route, below string, fn func(ctx context.Context, ws, dst string, v *deadLettersView) error) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	ws := state(r).actor.WorkspaceID
	dl := &deadLettersView{}
	if err := c.act(r, route, "destinations/"+d.ID+"/"+below, func(ctx context.Context) error {
		return fn(ctx, ws, d.ID, dl)
	}); err != nil {
		return err
	}
	v := &setupView{Dst: d, Form: formOf(d), DeadLetters: dl}
	v.Entry, _ = catalogEntry(string(d.Type))
	return c.renderSetup(w, r, http.StatusOK, v)
}

// deadLetterWhy says each dead-letter reason (delivery.Reason*) for people.
var deadLetterWhy = map[string]string{
	delivery.ReasonRejected:            "the destination refused them",
	delivery.ReasonMaxAttempts:         "they failed every attempt",
	delivery.ReasonDestinationDisabled: "the destination was disabled: enable it, then replay",
	delivery.ReasonDestinationNotFound: "the destination was deleted",
	delivery.ReasonUnsupportedType:     "the destination's type could not be delivered",
	delivery.ReasonMalformed:           "the message was not a protected copy",
	delivery.ReasonReceiveLimit:        "the delivery function failed on them repeatedly",
}

// Why says dead-letter reason code for people (the code itself when it is not known).
func (deadLettersView) Why(code string) string {
	if w, ok := deadLetterWhy[code]; ok {
		return w
	}
	return code
}
