package controllers

import (
	"context"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
)

// ClientsFrom adapts a connection registry to the Deployment reconciler.
func ClientsFrom(reg *connection.Registry) ClientFunc {
	return func(ctx context.Context, api *dbrestv1.DatabaseAPI, detached bool) (ApplicationClient, string, error) {
		conn, err := reg.For(ctx, api)
		if err != nil {
			return nil, "", err
		}
		// The endpoint's client is shared; the detached setting is the
		// Deployment's, and WithDetached is a cheap shallow copy.
		return conn.Client.WithDetached(detached), conn.Key, nil
	}
}

// ProbersFrom adapts a connection registry to the DatabaseAPI reconciler.
func ProbersFrom(reg *connection.Registry) ProberFunc {
	return func(ctx context.Context, api *dbrestv1.DatabaseAPI) (Prober, string, error) {
		conn, err := reg.For(ctx, api)
		if err != nil {
			return nil, "", err
		}
		return conn.Client, conn.Key, nil
	}
}
