# Reference values for censored and survival outcomes (metobit, meintreg, mestreg).
# Run from the repository root:  Rscript tests/reference/make_refs_censored.R
# Writes tests/reference/censored/*.csv (the data) and censored/refs.json.
# Software: R 4.2.2, survival 3.4, numDeriv, jsonlite (Debian bookworm packages).
#
# Random-intercept models are fitted here by maximising a marginal likelihood written
# independently of mejax: each cluster's integral over its random intercept is done by R's
# non-adaptive Gauss-Hermite rule with 121 nodes (Golub-Welsch, written here; mejax uses
# 7-point mean-variance adaptive quadrature), optimised with optim(BFGS) and polished with
# nlminb; SEs from a numDeriv (Richardson) Hessian.  The 121-node value is checked against
# 81 nodes at the optimum (printed: the difference must be below 1e-8).  Survival
# models without random effects come from survival::survreg (exponential, Weibull, lognormal,
# loglogistic; PH coefficients are -coef/scale), Gompertz and the two-parameter gamma from a
# direct optimisation of densities written with base R (pgamma/dgamma).
suppressMessages({library(survival); library(numDeriv); library(jsonlite)})
out <- "tests/reference/censored"
refs <- list()

gh_rule <- function(k) {
  # Gauss-Hermite nodes and weights for N(0, 1) by Golub-Welsch (no statmod)
  off <- sqrt(seq_len(k - 1) / 2)
  J <- matrix(0, k, k)
  J[cbind(1:(k - 1), 2:k)] <- off
  J[cbind(2:k, 1:(k - 1))] <- off
  e <- eigen(J, symmetric = TRUE)
  list(x = sqrt(2) * e$values, logw = log(e$vectors[1, ]^2))
}
GH <- gh_rule(121)

cluster_loglik <- function(row_ll, groups, su) {
  # sum over clusters of log int prod_i f_i(u) N(u; 0, su^2) du by 121-point Gauss-Hermite:
  # row_ll(U) takes an n x Q matrix of random-intercept values and returns the row log densities
  U <- matrix(su * GH$x, length(groups), length(GH$x), byrow = TRUE)
  M <- rowsum(row_ll(U), groups) + matrix(GH$logw, length(unique(groups)), length(GH$x),
                                          byrow = TRUE)
  top <- apply(M, 1, max)
  total <- sum(top + log(rowSums(exp(M - top))))
  if (is.finite(total)) total else -1e100
}

fit_ri <- function(negll, start) {
  o <- optim(start, negll, method = "BFGS", control = list(reltol = 1e-14, maxit = 500))
  o2 <- nlminb(o$par, negll, control = list(rel.tol = 1e-14, eval.max = 2000, iter.max = 1000))
  h <- hessian(negll, o2$par)
  list(par = o2$par, loglik = -o2$objective, vcov = solve(h))
}

# ---- tobit: ll(0) and a per-row upper limit variable -----------------------------------
set.seed(13)
G <- 40; n <- 10
g <- rep(seq_len(G), each = n); x <- rnorm(G * n)
ystar <- 0.6 + 0.8 * x + rnorm(G, 0, 0.8)[g] + rnorm(G * n, 0, 1.1)
ulv <- round(runif(G * n, 2.2, 3.2), 2)
y <- pmin(pmax(ystar, 0), ulv)
tobit <- data.frame(y = round(y, 6), x = round(x, 6), ulv = ulv, g = g)
tobit$y[tobit$y <= 0] <- 0
write.csv(tobit, file.path(out, "tobit.csv"), row.names = FALSE)
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
GH121 <- GH; GH <- gh_rule(81); cat("tobit 81 vs 121 nodes:", -tob_ll(f$par) - f$loglik, "\n")
GH <- GH121
J <- diag(c(1, 1, 2 * exp(2 * f$par[3]), 2 * exp(2 * f$par[4])))
V <- J %*% f$vcov %*% t(J)
refs$tobit_ri <- list(loglik = f$loglik, beta = f$par[1:2], beta_se = sqrt(diag(V))[1:2],
                      var_e = exp(2 * f$par[3]), var_e_se = sqrt(V[3, 3]),
                      var_u = exp(2 * f$par[4]), var_u_se = sqrt(V[4, 4]),
                      n_left = sum(tobit$y <= 0), n_right = sum(tobit$y >= tobit$ulv))
cat("tobit", f$loglik, "\n")

# ---- interval regression: exact, left-, right-, interval-censored and empty rows --------
set.seed(14)
G <- 30; n <- 8
g <- rep(seq_len(G), each = n); x <- rnorm(G * n)
ystar <- 2 + 0.5 * x + rnorm(G, 0, 0.6)[g] + rnorm(G * n, 0, 0.9)
type <- sample(c("exact", "left", "right", "interval"), G * n, TRUE, c(0.4, 0.2, 0.2, 0.2))
lo <- ifelse(type == "exact", ystar, ifelse(type == "left", NA,
             ifelse(type == "right", floor(ystar), floor(ystar))))
hi <- ifelse(type == "exact", ystar, ifelse(type == "left", ceiling(ystar),
             ifelse(type == "right", NA, floor(ystar) + 1)))
lo <- round(lo, 6); hi <- round(hi, 6)
empty <- c(5, 77, 150)
lo[empty] <- NA; hi[empty] <- NA
intreg <- data.frame(lo = lo, hi = hi, x = round(x, 6), g = g)
write.csv(intreg, file.path(out, "intreg.csv"), row.names = FALSE, na = "")
d <- intreg[!(is.na(intreg$lo) & is.na(intreg$hi)), ]
int_ll <- function(par) {
  b <- par[1:2]; se <- exp(par[3]); su <- exp(par[4])
  row_ll <- function(U) {
    eta <- b[1] + b[2] * d$x + U
    l <- d$lo; h <- d$hi
    ex <- !is.na(l) & !is.na(h) & l == h
    le <- is.na(l); ri <- is.na(h); iv <- !ex & !le & !ri
    out <- eta * 0
    out[ex, ] <- dnorm(l[ex], eta[ex, ], se, log = TRUE)
    out[le, ] <- pnorm((h[le] - eta[le, ]) / se, log.p = TRUE)
    out[ri, ] <- pnorm((eta[ri, ] - l[ri]) / se, log.p = TRUE)
    out[iv, ] <- log(pnorm((h[iv] - eta[iv, ]) / se) - pnorm((l[iv] - eta[iv, ]) / se))
    out
  }
  -cluster_loglik(row_ll, d$g, su)
}
f <- fit_ri(int_ll, c(2, 0.5, 0, -0.5))
J <- diag(c(1, 1, 2 * exp(2 * f$par[3]), 2 * exp(2 * f$par[4])))
V <- J %*% f$vcov %*% t(J)
refs$intreg_ri <- list(loglik = f$loglik, beta = f$par[1:2], beta_se = sqrt(diag(V))[1:2],
                       var_e = exp(2 * f$par[3]), var_e_se = sqrt(V[3, 3]),
                       var_u = exp(2 * f$par[4]), var_u_se = sqrt(V[4, 4]),
                       nobs = nrow(d), n_dropped = length(empty))
cat("intreg", f$loglik, "\n")

# ---- survival without random effects: survreg and direct optimisation -------------------
set.seed(15)
n <- 300
x1 <- rnorm(n); x2 <- rbinom(n, 1, 0.4)
t_true <- rweibull(n, shape = 1.4, scale = exp(1 + 0.3 * x1 - 0.5 * x2))
cens <- rexp(n, 0.15)
surv <- data.frame(time = round(pmin(t_true, cens), 6) + 1e-6, fail = as.integer(t_true <= cens),
                   x1 = round(x1, 6), x2 = x2)
write.csv(surv, file.path(out, "surv.csv"), row.names = FALSE)
for (dist in c("exponential", "weibull", "lognormal", "loglogistic")) {
  m <- survreg(Surv(time, fail) ~ x1 + x2, data = surv, dist = dist)
  aft <- coef(m)
  item <- list(loglik = as.numeric(logLik(m)), aft = unname(aft),
               aft_se = unname(sqrt(diag(vcov(m)))[1:3]), log_scale = log(m$scale))
  if (dist %in% c("exponential", "weibull")) {
    item$ph <- unname(-aft / m$scale)
    item$ln_p <- -log(m$scale)
  }
  refs[[paste0("survreg_", dist)]] <- item
  cat(dist, item$loglik, "\n")
}
X <- cbind(1, surv$x1, surv$x2)
gomp_nll <- function(par) {
  eta <- X %*% par[1:3]; gam <- par[4]
  -sum(surv$fail * (eta + gam * surv$time) - exp(eta) * (exp(gam * surv$time) - 1) / gam)
}
o <- nlminb(c(-2, 0, 0, 0.05), gomp_nll, control = list(rel.tol = 1e-14))
refs$direct_gompertz <- list(loglik = -o$objective, beta = o$par[1:3], gamma = o$par[4],
                             se = sqrt(diag(solve(hessian(gomp_nll, o$par)))))
gamma_nll <- function(par) {
  eta <- X %*% par[1:3]; s2 <- exp(2 * par[4]); shape <- 1 / s2; scale <- s2 * exp(eta)
  -sum(ifelse(surv$fail == 1, dgamma(surv$time, shape = shape, scale = scale, log = TRUE),
              pgamma(surv$time, shape = shape, scale = scale, lower.tail = FALSE, log.p = TRUE)))
}
o <- nlminb(c(1, 0, 0, 0), gamma_nll, control = list(rel.tol = 1e-14))
refs$direct_gamma <- list(loglik = -o$objective, beta = o$par[1:3], logs = o$par[4],
                          se = sqrt(diag(solve(hessian(gamma_nll, o$par)))))
# delayed entry (Weibull PH): entry at a fraction of the exit time for half the rows
set.seed(16)
entry <- ifelse(runif(n) < 0.5, round(surv$time * runif(n, 0.1, 0.8), 6), 0)
surv$entry <- entry
write.csv(surv, file.path(out, "surv.csv"), row.names = FALSE)
wd_nll <- function(par) {
  eta <- X %*% par[1:3]; p <- exp(par[4])
  H <- function(t) exp(eta) * t^p
  -sum(surv$fail * (par[4] + eta + (p - 1) * log(surv$time)) - H(surv$time) + H(surv$entry))
}
o <- nlminb(c(-1, 0, 0, 0), wd_nll, control = list(rel.tol = 1e-14))
refs$direct_weibull_entry <- list(loglik = -o$objective, beta = o$par[1:3], ln_p = o$par[4])
cat("gompertz/gamma/entry done\n")

# ---- Weibull PH random intercept on survival::kidney (Stata's catheter data differ) -------
k <- survival::kidney
kidney <- data.frame(patient = k$id, time = k$time, infect = k$status, age = k$age,
                     female = as.integer(k$sex == 2))
write.csv(kidney, file.path(out, "kidney.csv"), row.names = FALSE)
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
J <- diag(c(1, 1, 1, 1, 2 * exp(2 * f$par[5])))
V <- J %*% f$vcov %*% t(J)
refs$weibull_kidney_ri <- list(loglik = f$loglik, beta = f$par[1:3],
                               beta_se = sqrt(diag(V))[1:3], ln_p = f$par[4],
                               ln_p_se = sqrt(V[4, 4]), var_u = exp(2 * f$par[5]),
                               var_u_se = sqrt(V[5, 5]))
cat("weibull kidney", f$loglik, "\n")
# lognormal AFT random intercept on the same data
ln_nll <- function(par) {
  b <- par[1:3]; s <- exp(par[4]); su <- exp(par[5])
  row_ll <- function(U) {
    eta <- as.vector(Xk %*% b) + U
    z <- (log(kidney$time) - eta) / s
    fail <- kidney$infect == 1
    out <- pnorm(-z, log.p = TRUE)
    out[fail, ] <- dnorm(z[fail, ], log = TRUE) - log(s) - log(kidney$time[fail])
    out
  }
  -cluster_loglik(row_ll, kidney$patient, su)
}
f <- fit_ri(ln_nll, c(0, 1, 3, 0, -1))
J <- diag(c(1, 1, 1, 1, 2 * exp(2 * f$par[5])))
V <- J %*% f$vcov %*% t(J)
refs$lognormal_kidney_ri <- list(loglik = f$loglik, beta = f$par[1:3],
                                 beta_se = sqrt(diag(V))[1:3], logs = f$par[4],
                                 var_u = exp(2 * f$par[5]), var_u_se = sqrt(V[5, 5]))
cat("lognormal kidney", f$loglik, "\n")
write_json(refs, file.path(out, "refs.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
