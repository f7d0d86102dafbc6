// Package awsconfig is the one place where the service loads its AWS SDK configuration.
//
// Every function calls [Load] once during cold start and builds the few clients it needs from
// the result (dynamodb.NewFromConfig and so on), keeping them for the life of the container, so
// the credentials chain, region, retry policy and HTTP transport are shared by all invocations.
// A function links only the SDK services it uses, which keeps its binary and cold start small.
//
// Endpoints are never configured in code: the SDK's own variables (AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_SNS) point the same binaries at
// local emulators, and leaving them unset talks to AWS.
package awsconfig

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load reads the SDK's default configuration (environment, shared files, the Lambda role). It
// makes no network call, so it is safe in cold-start init. It fails when the configuration is
// unusable or names no region.
func Load(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("load AWS configuration: no region (set AWS_REGION)")
	}
	return cfg, nil
}
