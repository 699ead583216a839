// Drives the Go client that openapi-generator (-g go) generates from openapi/secret-groups.yaml
// against a running server: create a group with two secrets, read it back and check its fields,
// read a secret's value, delete the group and check that reading it again is a 404 HttpError.
//
// Built by scripts/contract/go-client.sh inside a module "contractclient" whose package
// "contractclient/secretgroups" is the generated client, and run with SG_URL and SG_TOKEN of a
// fresh server. The generated models reject unknown fields, so every answer here also proves the
// server sends nothing the document does not declare. Any failed check exits 1 with the reason.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	sg "contractclient/secretgroups"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-client: FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func check(cond bool, format string, args ...interface{}) {
	if !cond {
		fail(format, args...)
	}
}

// must fails unless the call answered 200 without error.
func must(op string, resp *http.Response, err error) {
	if err != nil {
		var apiErr *sg.GenericOpenAPIError
		if errors.As(err, &apiErr) {
			fail("%s: %v: %s", op, err, apiErr.Body())
		}
		fail("%s: %v", op, err)
	}
	check(resp != nil && resp.StatusCode == http.StatusOK, "%s: status %v", op, resp)
}

func keys(g sg.SecretGroup) []string {
	out := make([]string, 0, len(g.AssociatedSecrets))
	for _, s := range g.AssociatedSecrets {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

func main() {
	url, token := os.Getenv("SG_URL"), os.Getenv("SG_TOKEN")
	check(url != "" && token != "", "SG_URL and SG_TOKEN must be set")

	cfg := sg.NewConfiguration()
	cfg.Servers = sg.ServerConfigurations{{URL: url, Description: "the server under test"}}
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	client := sg.NewAPIClient(cfg)
	ctx := context.WithValue(context.Background(), sg.ContextAccessToken, token)

	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		fail("random: %v", err)
	}
	name := "go-client-" + hex.EncodeToString(suffix)

	// Create with two secrets.
	body := sg.NewCreateSecretGroupRequest(name, "internal-secret-store", []sg.SecretInput{
		*sg.NewSecretInput("API_KEY", "v1-api"),
		*sg.NewSecretInput("DB_PASSWORD", "v1-db"),
	})
	created, resp, err := client.SecretGroupsAPI.CreateSecretGroup(ctx).CreateSecretGroupRequest(*body).Execute()
	must("createSecretGroup", resp, err)
	c := created.Data
	check(c.Id != "", "created group has no id")
	check(c.Name == name, "name: %q", c.Name)

	// Read it back and check its fields.
	got, resp, err := client.SecretGroupsAPI.GetSecretGroup(ctx, c.Id).Execute()
	must("getSecretGroup", resp, err)
	g := got.Data
	check(g.Id == c.Id, "id: %q, created %q", g.Id, c.Id)
	check(g.Name == name, "name: %q", g.Name)
	check(g.Fqn == g.TenantName+":"+name, "fqn: %q (tenant %q)", g.Fqn, g.TenantName)
	check(g.AccountId != "", "accountId is empty")
	check(g.IntegrationId == "internal-secret-store", "integrationId: %q", g.IntegrationId)
	check(g.Manifest.Type == "secret-group", "manifest.type: %q", g.Manifest.Type)
	check(g.Manifest.Name == name, "manifest.name: %q", g.Manifest.Name)
	check(g.Manifest.IntegrationFqn != "", "manifest.integration_fqn is empty")
	check(g.CreatedBy != "", "createdBy is empty")
	check(g.CreatedBySubject.SubjectId != "" && g.CreatedBySubject.SubjectType == "user",
		"createdBySubject: %+v", g.CreatedBySubject)
	check(!g.CreatedAt.IsZero() && !g.UpdatedAt.Before(g.CreatedAt),
		"createdAt %v, updatedAt %v", g.CreatedAt, g.UpdatedAt)
	check(time.Since(g.CreatedAt) < time.Hour && time.Until(g.CreatedAt) < time.Minute,
		"createdAt is not now: %v", g.CreatedAt)
	check(strings.Join(keys(g), ",") == "API_KEY,DB_PASSWORD", "keys: %v", keys(g))
	var apiKeyID string
	for _, s := range g.AssociatedSecrets {
		check(!s.HasValue(), "the group answer carries the value of %s", s.Name)
		check(s.SecretGroupId == g.Id, "%s.secretGroupId: %q", s.Name, s.SecretGroupId)
		check(s.Fqn == g.Fqn+":"+s.Name, "%s.fqn: %q", s.Name, s.Fqn)
		if s.Name == "API_KEY" {
			apiKeyID = s.Id
		}
	}

	// A secret's value and its one version.
	secret, resp, err := client.SecretsAPI.GetSecret(ctx, apiKeyID).Execute()
	must("getSecret", resp, err)
	check(secret.Data.GetValue() == "v1-api", "value: %q", secret.Data.GetValue())
	versions := secret.Data.GetSecretVersions()
	check(len(versions) == 1 && versions[0].Version == 1 && versions[0].GetValue() == "v1-api",
		"secretVersions: %+v", versions)

	// Delete; then reading it is a 404 whose body decodes as the document's HttpError.
	deleted, resp, err := client.SecretGroupsAPI.DeleteSecretGroup(ctx, g.Id).Execute()
	must("deleteSecretGroup", resp, err)
	check(len(deleted) == 0, "delete answered %v, want {}", deleted)
	_, resp, err = client.SecretGroupsAPI.GetSecretGroup(ctx, g.Id).Execute()
	check(resp != nil && resp.StatusCode == http.StatusNotFound, "get after delete: %v %v", resp, err)
	var apiErr *sg.GenericOpenAPIError
	check(errors.As(err, &apiErr), "get after delete: error %T %v", err, err)
	httpErr, ok := apiErr.Model().(sg.HttpError)
	check(ok, "get after delete: error model %T, body %s", apiErr.Model(), apiErr.Body())
	check(httpErr.StatusCode == 404 && httpErr.GetCode() == "not_found", "HttpError: %+v", httpErr)

	fmt.Printf("go-client: group %s created, read back, checked and deleted\n", name)
}
