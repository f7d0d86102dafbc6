// Command infra is the service's AWS CDK app: `npx cdk synth` (make synth) writes the
// CloudFormation template to cdk.out/, `npx cdk deploy` (make deploy) deploys it. It exits with
// status 1 and a message naming what is missing when a function binary has not been built.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := newApp(app); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
}
