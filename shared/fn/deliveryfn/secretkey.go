package deliveryfn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/phiguard/phiguard/shared/webhook"
)

// SecretsManager is the part of the Secrets Manager client SecretKey uses
// (*secretsmanager.Client).
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsManager = (*secretsmanager.Client)(nil)

// Cache timings of SecretKey.
const (
	// SecretKeyTTL is how long a fetched key is used before it is fetched again, so a rotated
	// secret signs deliveries within this time without a redeploy.
	SecretKeyTTL = 5 * time.Minute
	// secretKeyRetry is how long a failed fetch is remembered: within it, callers get the
	// cached key (if any) or the same error without another call, so an outage of Secrets
	// Manager costs one call per container per retry period, not one per delivery.
	secretKeyRetry = 10 * time.Second
)

// SecretKey is a webhook.KeySource that reads the signing key from a Secrets Manager secret
// (its SecretString, or its SecretBinary) when it is first needed — never at cold start — and
// caches it for SecretKeyTTL. When a refresh fails it keeps using the key it has. It is safe for
// concurrent use; concurrent callers share one fetch.
type SecretKey struct {
	client   SecretsManager
	secretID string
	now      func() time.Time

	mu        sync.Mutex
	key       []byte
	fetchedAt time.Time
	err       error // the last fetch's error, until failedAt + secretKeyRetry
	failedAt  time.Time
}

var _ webhook.KeySource = (*SecretKey)(nil)

// NewSecretKey returns a SecretKey reading the secret secretID (its ARN or name) with client.
// It makes no call.
func NewSecretKey(client SecretsManager, secretID string) *SecretKey {
	return &SecretKey{client: client, secretID: secretID, now: time.Now}
}

// SigningKey returns the cached key, fetching it when there is none or it is older than
// SecretKeyTTL. It fails when there is no cached key and the fetch fails or the secret holds
// fewer than webhook.MinSigningKeyLen bytes; the error names the secret, never its value.
func (s *SecretKey) SigningKey(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.key != nil && now.Sub(s.fetchedAt) < SecretKeyTTL {
		return s.key, nil
	}
	if s.err != nil && now.Sub(s.failedAt) < secretKeyRetry {
		if s.key != nil {
			return s.key, nil
		}
		return nil, s.err
	}
	key, err := s.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil { // the caller giving up says nothing about Secrets Manager
			s.err, s.failedAt = err, now
		}
		if s.key != nil {
			return s.key, nil // keep signing with the key we have; try again after secretKeyRetry
		}
		return nil, err
	}
	s.key, s.fetchedAt, s.err = key, now, nil
	return key, nil
}

func (s *SecretKey) fetch(ctx context.Context) ([]byte, error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID)})
	if err != nil {
		return nil, fmt.Errorf("read the webhook signing key from secret %s: %w", s.secretID, err)
	}
	var key []byte
	switch {
	case out.SecretString != nil:
		key = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		key = out.SecretBinary
	default:
		return nil, errors.New("secret " + s.secretID + " has no value")
	}
	if len(key) < webhook.MinSigningKeyLen {
		return nil, fmt.Errorf("secret %s holds fewer than the %d bytes a webhook signing key needs", s.secretID, webhook.MinSigningKeyLen)
	}
	return key, nil
}
