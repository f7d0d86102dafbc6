package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/retry"
)

// Inbox feed limits. maxSeenPaths bounds the per-container memory of paths already recorded;
// beyond it new paths are not recorded until the container is recycled (they are recorded by
// other containers, and the store's writes are idempotent).
const (
	maxSeenPaths   = 50_000
	inboxChunk     = 500 // paths per store call (the store takes at most 1000)
	inboxQueue     = 64  // pending store calls per invocation before new paths are deferred
	inboxFinishMax = 2 * time.Second
)

// inbox remembers, per container, which field paths of which source have been recorded, so
// each new path is written once per container.
type inbox struct {
	store Store
	log   *slog.Logger

	mu    sync.Mutex
	seen  map[string]map[string]struct{} // workspace/source → paths
	total int
}

type inboxWork struct {
	ws, src string
	paths   []string
}

// inboxRun records one invocation's new paths in the background, off the publish path.
type inboxRun struct {
	in   *inbox
	work chan inboxWork
	done chan struct{}
}

func (in *inbox) start(ctx context.Context) *inboxRun {
	r := &inboxRun{in: in, work: make(chan inboxWork, inboxQueue), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for w := range r.work {
			if err := in.store.RecordInboxPaths(ctx, w.ws, w.src, w.paths); err != nil {
				in.forget(w)
				in.log.Warn("inbox paths not recorded; they will be retried", "workspace", w.ws, "source", w.src,
					"paths", len(w.paths), "error_code", errorCode(err))
			}
		}
	}()
	return r
}

// offer queues the paths of ws/src not recorded yet. It never blocks: when the queue is full
// the paths are forgotten and offered again by a later event.
func (r *inboxRun) offer(ws, src string, paths []string) {
	fresh := r.in.fresh(ws, src, paths)
	for len(fresh) > 0 {
		n := min(len(fresh), inboxChunk)
		w := inboxWork{ws: ws, src: src, paths: fresh[:n]}
		select {
		case r.work <- w:
		default:
			r.in.forget(inboxWork{ws: ws, src: src, paths: fresh})
			return
		}
		fresh = fresh[n:]
	}
}

// finish waits for the queued writes, at most inboxFinishMax and never past the invocation's
// deadline margin; writes still running are abandoned (Lambda freezes them) and, when they
// fail, retried by a later invocation.
func (r *inboxRun) finish(ctx context.Context) {
	close(r.work)
	wait := inboxFinishMax
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-retry.DeadlineMargin)
	}
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	}
}

// fresh returns the valid paths of ws/src not seen yet, and marks them seen.
func (in *inbox) fresh(ws, src string, paths []string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	k := ws + "/" + src
	set := in.seen[k]
	var out []string
	for _, p := range paths {
		if _, ok := set[p]; ok {
			continue
		}
		if in.total >= maxSeenPaths {
			break
		}
		if privacy.FieldPath(p).Validate() != nil {
			continue // the Privacy Portal cannot hold it; the store would refuse the whole call
		}
		if set == nil {
			if in.seen == nil {
				in.seen = map[string]map[string]struct{}{}
			}
			set = map[string]struct{}{}
			in.seen[k] = set
		}
		set[p] = struct{}{}
		in.total++
		out = append(out, p)
	}
	return out
}

// forget unmarks paths whose write failed or was not queued.
func (in *inbox) forget(w inboxWork) {
	in.mu.Lock()
	defer in.mu.Unlock()
	set := in.seen[w.ws+"/"+w.src]
	for _, p := range w.paths {
		if _, ok := set[p]; ok {
			delete(set, p)
			in.total--
		}
	}
}
