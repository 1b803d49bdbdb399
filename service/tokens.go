package service

import (
	"context"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

// tokenStore is the token store, or the conflict token calls get on a
// server that keeps none (an insecure one).
func (h *handlers) tokenStore() (TokenStore, error) {
	if h.s.cfg.Tokens == nil {
		return nil, trials.Conflictf("this server runs without authentication (--insecure) and keeps no tokens")
	}
	return h.s.cfg.Tokens, nil
}

func (h *handlers) CreateToken(ctx context.Context, req openapi.CreateTokenRequestObject) (openapi.CreateTokenResponseObject, error) {
	ts, err := h.tokenStore()
	if err != nil {
		return nil, err
	}
	scopes := make([]auth.Scope, len(req.Body.Scopes))
	for i, s := range req.Body.Scopes {
		scopes[i] = auth.Scope(s)
	}
	if err := auth.ValidateNew(req.Body.Name, scopes, req.Body.ExpiresAt, h.s.cfg.Now()); err != nil {
		return nil, trials.Invalidf("%s", err.Error())
	}
	secret, hash, err := auth.NewSecret()
	if err != nil {
		return nil, err
	}
	tok, err := ts.CreateToken(ctx, auth.Token{Name: req.Body.Name, Scopes: scopes, Hash: hash, ExpiresAt: req.Body.ExpiresAt})
	if err != nil {
		return nil, err
	}
	by, _ := CallerFrom(ctx)
	h.s.log.Info("token created", "token", tok.Name, "id", tok.ID, "scopes", auth.JoinScopes(tok.Scopes), "by", by.Name)
	return openapi.CreateToken201JSONResponse{Token: tokenToAPI(tok), Secret: secret}, nil
}

func (h *handlers) ListTokens(ctx context.Context, _ openapi.ListTokensRequestObject) (openapi.ListTokensResponseObject, error) {
	ts, err := h.tokenStore()
	if err != nil {
		return nil, err
	}
	toks, err := ts.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := openapi.TokenList{Items: make([]openapi.Token, len(toks))}
	for i := range toks {
		out.Items[i] = tokenToAPI(&toks[i])
	}
	return openapi.ListTokens200JSONResponse(out), nil
}

func (h *handlers) RevokeToken(ctx context.Context, req openapi.RevokeTokenRequestObject) (openapi.RevokeTokenResponseObject, error) {
	ts, err := h.tokenStore()
	if err != nil {
		return nil, err
	}
	tok, err := ts.RevokeToken(ctx, req.Token)
	if err != nil {
		return nil, err
	}
	by, _ := CallerFrom(ctx)
	h.s.log.Info("token revoked", "token", tok.Name, "id", tok.ID, "by", by.Name)
	return openapi.RevokeToken200JSONResponse(tokenToAPI(tok)), nil
}

func tokenToAPI(t *auth.Token) openapi.Token {
	out := openapi.Token{
		Id:         t.ID,
		Name:       t.Name,
		Scopes:     make([]openapi.TokenScope, len(t.Scopes)),
		CreatedAt:  t.CreatedAt,
		ExpiresAt:  t.ExpiresAt,
		RevokedAt:  t.RevokedAt,
		LastUsedAt: t.LastUsedAt,
	}
	for i, s := range t.Scopes {
		out.Scopes[i] = openapi.TokenScope(s)
	}
	return out
}
