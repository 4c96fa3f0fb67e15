# Reference margins and ICCs after metobit and mestreg, computed independently of mejax.
# Run from the repository root:  Rscript tests/reference/make_refs_censored_margins.R
# Reads tests/reference/censored/{tobit,kidney}.csv (written by make_refs_censored.R) and
# writes censored/margins.json.  Software: R 4.2.2, numDeriv, jsonlite.
#
# Each model is refitted here by maximising its marginal likelihood with R's non-adaptive
# 121-node Gauss-Hermite rule (as in make_refs_censored.R; mejax uses 7-point mean-variance
# adaptive quadrature).  Each margin is written as a function of the parameter vector from
# textbook formulas (the marginal latent normal of a tobit model; the marginal Weibull
# survivor as a 121-node average over the random intercept, its median by uniroot), and its
# standard error is the delta method with a numDeriv (Richardson) Jacobian and the inverse
# numDeriv Hessian of the negative log likelihood.
suppressMessages({library(numDeriv); library(jsonlite)})
out <- "tests/reference/censored"
refs <- list()

gh_rule <- function(k) {
  off <- sqrt(seq_len(k - 1) / 2)
  J <- matrix(0, k, k)
  J[cbind(1:(k - 1), 2:k)] <- off
  J[cbind(2:k, 1:(k - 1))] <- off
  e <- eigen(J, symmetric = TRUE)
  list(x = sqrt(2) * e$values, w = e$vectors[1, ]^2)
}
GH <- gh_rule(121)

cluster_loglik <- function(row_ll, groups, su) {
  U <- matrix(su * GH$x, length(groups), length(GH$x), byrow = TRUE)
  M <- rowsum(row_ll(U), groups) + matrix(log(GH$w), length(unique(groups)), length(GH$x),
                                          byrow = TRUE)
  top <- apply(M, 1, max)
  total <- sum(top + log(rowSums(exp(M - top))))
  if (is.finite(total)) total else -1e100
}

fit_ri <- function(negll, start) {
  o <- optim(start, negll, method = "BFGS", control = list(reltol = 1e-14, maxit = 500))
  o2 <- nlminb(o$par, negll, control = list(rel.tol = 1e-14, eval.max = 2000, iter.max = 1000))
  list(par = o2$par, loglik = -o2$objective, vcov = solve(hessian(negll, o2$par)))
}

delta <- function(fn, f) {
  J <- jacobian(fn, f$par)
  list(est = fn(f$par), se = sqrt(diag(J %*% f$vcov %*% t(J))))
}

# ---- tobit: ll(0) ul(ulv), random intercept by g ------------------------------------------
tobit <- read.csv(file.path(out, "tobit.csv"))
tob_ll <- function(par) {
  b <- par[1:2]; se <- exp(par[3]); su <- exp(par[4])
  d <- tobit
  row_ll <- function(U) {
    eta <- b[1] + b[2] * d$x + U
    left <- d$y <= 0; right <- d$y >= d$ulv; exact <- !left & !right
    out <- eta * 0
    out[left, ] <- pnorm((0 - eta[left, ]) / se, log.p = TRUE)
    out[right, ] <- pnorm((eta[right, ] - d$ulv[right]) / se, log.p = TRUE)
    out[exact, ] <- dnorm(d$y[exact], eta[exact, ], se, log = TRUE)
    out
  }
  -cluster_loglik(row_ll, d$g, su)
}
f <- fit_ri(tob_ll, c(0.5, 0.5, 0, -0.5))
# marginally y* ~ N(xb, s^2) with s^2 = var(e) + var(u)
tob_stats <- function(par, x, a, b) {
  xb <- par[1] + par[2] * x; s <- sqrt(exp(2 * par[3]) + exp(2 * par[4]))
  al <- (a - xb) / s; be <- (b - xb) / s
  inside <- pnorm(be) - pnorm(al)
  e <- xb + s * (dnorm(al) - dnorm(be)) / inside
  below <- if (is.finite(a)) a * pnorm(al) else 0
  above <- if (is.finite(b)) b * pnorm(be, lower.tail = FALSE) else 0
  list(pr = inside, e = e, ystar = below + above + inside * e)
}
avg <- function(stat, a, b, x = tobit$x) function(par) mean(tob_stats(par, x, a, b)[[stat]])
refs$tobit <- list(
  loglik = f$loglik,
  pr_0_inf = delta(avg("pr", 0, Inf), f),
  e_0_inf = delta(avg("e", 0, Inf), f),
  ystar_0_inf = delta(avg("ystar", 0, Inf), f),
  pr_m1_1 = delta(avg("pr", -1, 1), f),
  pr_0_inf_at_x = delta(function(par) sapply(c(-1, 0, 1), function(v)
    avg("pr", 0, Inf, rep(v, nrow(tobit)))(par)), f),
  dydx_x_pr_0_inf = delta(function(par) {  # average derivative in x, analytic
    xb <- par[1] + par[2] * tobit$x; s <- sqrt(exp(2 * par[3]) + exp(2 * par[4]))
    mean(dnorm(xb / s) * par[2] / s)
  }, f),
  pr_0_inf_fixedonly = delta(function(par) {
    xb <- par[1] + par[2] * tobit$x; mean(pnorm(xb / exp(par[3])))
  }, f),
  icc = delta(function(par) exp(2 * par[4]) / (exp(2 * par[3]) + exp(2 * par[4])), f))
cat("tobit", f$loglik, refs$tobit$pr_0_inf$est, refs$tobit$icc$est, "\n")

# ---- Weibull PH random intercept on kidney --------------------------------------------------
kidney <- read.csv(file.path(out, "kidney.csv"))
Xk <- cbind(kidney$age, kidney$female, 1)
wk_nll <- function(par) {
  b <- par[1:3]; lnp <- par[4]; p <- exp(lnp); su <- exp(par[5])
  row_ll <- function(U) {
    eta <- as.vector(Xk %*% b) + U
    kidney$infect * (lnp + eta + (p - 1) * log(kidney$time)) - exp(eta) * kidney$time^p
  }
  -cluster_loglik(row_ll, kidney$patient, su)
}
f <- fit_ri(wk_nll, c(0, -1, -4, 0, -1))
marg_surv <- function(par, xb, t) {  # S(t) averaged over the random intercept
  p <- exp(par[4]); su <- exp(par[5])
  sum(GH$w * exp(-exp(xb + su * GH$x) * t^p))
}
marg_dens <- function(par, xb, t) {
  p <- exp(par[4]); su <- exp(par[5]); e <- exp(xb + su * GH$x)
  sum(GH$w * p * e * t^(p - 1) * exp(-e * t^p))
}
row_xb <- function(par) as.vector(Xk %*% par[1:3])
median_one <- function(par, xb) {
  exp(uniroot(function(lt) marg_surv(par, xb, exp(lt)) - 0.5, c(-30, 30), tol = 1e-13)$root)
}
refs$weibull <- list(
  loglik = f$loglik,
  median = delta(function(par) mean(sapply(row_xb(par), function(x) median_one(par, x))), f),
  mean_time = delta(function(par) {
    p <- exp(par[4]); su <- exp(par[5])
    mean(sapply(row_xb(par), function(x) sum(GH$w * gamma(1 + 1 / p) * exp(-(x + su * GH$x) / p))))
  }, f),
  surv = delta(function(par) {
    xb <- row_xb(par); mean(mapply(function(x, t) marg_surv(par, x, t), xb, kidney$time))
  }, f),
  hazard = delta(function(par) {
    xb <- row_xb(par)
    mean(mapply(function(x, t) marg_dens(par, x, t) / marg_surv(par, x, t), xb, kidney$time))
  }, f),
  median_fixedonly_at_female = delta(function(par) sapply(c(0, 1), function(v) {
    X <- Xk; X[, 2] <- v; p <- exp(par[4])
    mean((log(2) / exp(as.vector(X %*% par[1:3])))^(1 / p))
  }), f))
cat("weibull", f$loglik, refs$weibull$median$est, "\n")
write_json(refs, file.path(out, "margins.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
