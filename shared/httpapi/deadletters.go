package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/phi"
)

// DeadLetters counts and replays a destination's dead letters (*delivery.DeadLetters).
type DeadLetters interface {
	Count(ctx context.Context, ws, dst string) (delivery.DeadLetterCount, error)
	Replay(ctx context.Context, ws, dst string) (delivery.ReplayResult, error)
}

var _ DeadLetters = (*delivery.DeadLetters)(nil)

// deadLetterDestination returns the id of the request's destination once it is known to exist
// in the caller's workspace (404 otherwise).
func (c *ConfigAPI) deadLetterDestination(r *http.Request) (string, error) {
	a, err := Actor(r)
	if err != nil {
		return "", err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return "", err
	}
	if _, _, err := c.Service.Destination(r.Context(), a.WorkspaceID, id); err != nil {
		return "", err
	}
	return id, nil
}

func (c *ConfigAPI) countDeadLetters(w http.ResponseWriter, r *http.Request) error {
	id, err := c.deadLetterDestination(r)
	if err != nil {
		return err
	}
	n, err := c.DeadLetters.Count(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return fmt.Errorf("count the dead letters of %s: %w", id, err)
	}
	WriteJSON(w, http.StatusOK, n)
	return nil
}

func (c *ConfigAPI) replayDeadLetters(w http.ResponseWriter, r *http.Request) error {
	id, err := c.deadLetterDestination(r)
	if err != nil {
		return err
	}
	res, err := c.DeadLetters.Replay(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return fmt.Errorf("replay the dead letters of %s: %w", id, err)
	}
	WriteJSON(w, http.StatusOK, res)
	return nil
}
