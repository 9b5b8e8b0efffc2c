// Package controllers holds the reconcilers of the apps.dbrest.io kinds:
// DatabaseAPI (connection and probe) and Deployment (deploy, poll jobs,
// redeploy, undeploy).
package controllers
