# Reference pseudo-likelihood fits of a survey-weighted random-intercept logit, written
# independently of mejax: each district's integral by a fine trapezoid rule around its mode
# (R's integrate() misses the sharp integrands of large row weights), maximised with optim,
# the linearized (sandwich) variance from numDeriv scores summed per PSU.
# Data: survey::apiclus2 (two-stage cluster sample of California schools: 40 districts, then
# schools within them). Run: Rscript tests/reference/make_refs_survey.R
suppressMessages({library(survey); library(numDeriv); library(jsonlite)})
data(api)
d <- apiclus2
n_d <- as.numeric(table(d$dnum)[as.character(d$dnum)])
out <- data.frame(dnum = d$dnum, snum = d$snum, stype = as.character(d$stype),
                  sch_wide = as.integer(d$sch.wide == "Yes"),
                  awards = as.integer(d$awards == "Yes"), ell = d$ell, meals = d$meals,
                  mobility = d$mobility, api00 = d$api00, enroll = d$enroll,
                  fpc1 = d$fpc1, fpc2 = as.numeric(d$fpc2),
                  w_district = d$fpc1 / 40, w_school = as.numeric(d$fpc2) / n_d, pw = d$pw)
write.csv(out, "mejax/datasets/data/apiclus2.csv", row.names = FALSE)

X <- cbind(1, out$ell / 10, out$meals / 10)  # the test uses ell10 = ell/10, meals10 = meals/10
y <- out$sch_wide
g <- match(out$dnum, sort(unique(out$dnum)))
G <- max(g)

# log of each district's integral: a trapezoid rule on 4001 points spanning ±16 posterior
# standard deviations around the integrand's mode (found by optimize), summed on the log scale
log_integral <- function(logf, sd) {
  mode <- optimize(logf, c(-20 * sd, 20 * sd), maximum = TRUE, tol = 1e-10)$maximum
  h <- 1e-4 * max(1, sd)
  curv <- -(logf(mode + h) - 2 * logf(mode) + logf(mode - h)) / h^2
  if (!is.finite(curv) || curv <= 0) curv <- 1 / sd^2  # far from the optimum: any scale
  half <- 16 / sqrt(curv)
  u <- seq(mode - half, mode + half, length.out = 4001)
  lf <- logf(u)
  m <- max(lf)
  m + log(sum(exp(lf - m)) * (u[2] - u[1]))
}

cluster_ll <- function(par, wrow, wclus) {
  beta <- par[1:3]; sd <- exp(par[4])
  eta <- drop(X %*% beta)
  sapply(seq_len(G), function(j) {
    rows <- which(g == j)
    logf <- function(u) {  # vectorised over u
      p <- plogis(outer(eta[rows], u, "+"))
      ll <- matrix(wrow[rows] * dbinom(y[rows], 1, p, log = TRUE), nrow = length(rows))
      colSums(ll) + dnorm(u, 0, sd, log = TRUE)
    }
    wclus[j] * log_integral(logf, sd)
  })
}

fit_one <- function(wrow, wclus, psu, strata, fpc_fraction, kind) {
  nll <- function(par) -sum(cluster_ll(par, wrow, wclus))
  start <- c(coef(glm(y ~ X - 1, family = binomial, weights = wrow)), log(0.5))
  opt <- optim(start, nll, method = "BFGS", control = list(reltol = 1e-14, maxit = 1000))
  opt <- optim(opt$par, nll, method = "BFGS", control = list(reltol = 1e-15, maxit = 1000))
  par <- opt$par
  H <- hessian(nll, par)
  S <- jacobian(function(p) cluster_ll(p, wrow, wclus), par)  # G x 4
  Sp <- rowsum(S, psu)
  strata_p <- tapply(strata, psu, function(s) s[1])
  frac_p <- tapply(fpc_fraction, psu, function(s) s[1])
  J <- matrix(0, 4, 4)
  if (kind == "linearized") {
    for (h in unique(strata_p)) {
      idx <- which(strata_p == h); nh <- length(idx)
      D <- sweep(Sp[idx, , drop = FALSE], 2, colMeans(Sp[idx, , drop = FALSE]))
      J <- J + (1 - frac_p[idx[1]]) * nh / (nh - 1) * crossprod(D)
    }
  } else {
    C <- nrow(Sp); J <- C / (C - 1) * crossprod(Sp)
  }
  B <- solve(H)
  V <- B %*% J %*% B
  sd <- exp(par[4]); jac_var <- 2 * sd^2
  list(loglik = -opt$value, beta = unname(par[1:3]), var = sd^2,
       se_beta = sqrt(diag(V))[1:3], se_var = sqrt(V[4, 4]) * jac_var,
       se_beta_oim = sqrt(diag(B))[1:3], n_psu = nrow(Sp),
       n_strata = length(unique(strata_p)))
}

wd <- out$w_district[match(seq_len(G), g)]
psu <- seq_len(G)
one_row <- rep(1, nrow(out)); one_clus <- rep(1, G)
strata_art <- sort(unique(out$dnum)) %% 4  # an artificial stratification of the districts
refs <- list(
  robust = fit_one(one_row, one_clus, psu, rep(1, G), rep(0, G), "robust"),
  weighted_fpc = fit_one(out$w_school, wd, psu, rep(1, G), rep(40 / 757, G), "linearized"),
  weighted_strata = fit_one(out$w_school, wd, psu, strata_art, rep(0, G), "linearized")
)
write_json(refs, "tests/reference/survey.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
print(refs)
