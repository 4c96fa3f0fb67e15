# Stan references for bayes: mixed with structured random-effects covariances
# (tests/test_bayes_covariance.py); Stata's default priors elsewhere: coefficients
# normal(0, 10000) (sd 100), variances igamma(0.01, 0.01). One program: lmm_covariance.stan.
#   machines:   bayes: mixed score i.machine_code || Worker: mA mB mC, noconstant
#               covariance(exchangeable)          ({cov_U} / {var_U} uniform on (-1/2, 1))
#   sleepstudy: bayes, prior({Sigma_U,m}, lkj(2)): mixed Reaction Days || Subject: Days,
#               covariance(unstructured)          (LKJ(2) correlation, igamma variances)
# Run from the repository root:  Rscript tests/reference/bayes/make_refs_bayes_covariance.R
# Writes tests/reference/bayes/stan_refs_covariance.json in stan_refs.json's format.
suppressMessages({library(rstan); library(jsonlite)})
rstan_options(auto_write = FALSE)
here <- "tests/reference/bayes"
read_data <- function(name) read.csv(file.path("tests/reference/data", paste0(name, ".csv")))
n_chains <- 4; n_warmup <- 2000; n_draws <- 10000; seed <- 20261201
t0 <- Sys.time()
model <- stan_model(file.path(here, "lmm_covariance.stan"))
compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

fit_case <- function(id, X, Z, g, kind, y, pars, stata) {
  N <- nrow(X)
  data <- list(N = N, P = ncol(X), K = ncol(Z), J = max(g), kind = kind, X = X, Z = Z, g = g,
               y = y, prior_sd = 100, ig_shape = 0.01, ig_scale = 0.01, lkj_eta = 2)
  t1 <- Sys.time()
  fit <- sampling(model, data = data, chains = n_chains, iter = n_warmup + n_draws,
                  warmup = n_warmup, seed = seed, cores = 2, refresh = 0,
                  control = list(adapt_delta = 0.95))
  wall <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
  arr <- as.array(fit, pars = pars)
  mon <- as.data.frame(monitor(arr, warmup = 0, print = FALSE))
  params <- list()
  for (i in seq_along(pars)) {
    draws <- as.vector(arr[, , pars[i]])
    r <- mon[pars[i], ]
    params[[stata[i]]] <- list(
      mean = r$mean, sd = r$sd, median = unname(quantile(draws, 0.5)),
      q025 = unname(quantile(draws, 0.025)), q975 = unname(quantile(draws, 0.975)),
      mcse_mean = r$se_mean, mcse_sd = r$MCSE_SD, mcse_median = r$MCSE_Q50,
      mcse_q025 = r$MCSE_Q2.5, mcse_q975 = r$MCSE_Q97.5,
      ess_bulk = r$Bulk_ESS, ess_tail = r$Tail_ESS, rhat = r$Rhat)
  }
  sp <- get_sampler_params(fit, inc_warmup = FALSE)
  divergent <- sum(sapply(sp, function(s) sum(s[, "divergent__"])))
  cat(sprintf("%s: %.1f s wall, %d divergent, min bulk ESS %.0f, max Rhat %.4f\n", id, wall,
              divergent, min(mon$Bulk_ESS), max(mon$Rhat)))
  list(id = id, params = params, divergent = divergent, wall_s = wall,
       min_ess_bulk = min(mon$Bulk_ESS))
}

mc <- read_data("machines")
X_mc <- cbind(mc$machine_code == 2, mc$machine_code == 3, 1) * 1
cases <- list(fit_case("machines_exchangeable", X_mc, cbind(mc$mA, mc$mB, mc$mC),
                       as.integer(factor(mc$Worker)), 1, mc$score,
                       c("beta[1]", "beta[2]", "beta[3]", "Sigma[1,1]", "Sigma[2,1]", "sigma2"),
                       c("{score:2.machine_code}", "{score:3.machine_code}", "{score:_cons}",
                         "{var_U}", "{cov_U}", "{e.score:sigma2}")))
ss <- read_data("sleepstudy")
cases[[2]] <- fit_case("sleepstudy_lkj", cbind(ss$Days, 1), cbind(1, ss$Days),
                       as.integer(factor(ss$Subject)), 2, ss$Reaction,
                       c("beta[1]", "beta[2]", "Sigma[1,1]", "Sigma[2,1]", "Sigma[2,2]",
                         "sigma2"),
                       c("{Reaction:Days}", "{Reaction:_cons}", "{Sigma_U_1_1}",
                         "{Sigma_U_2_1}", "{Sigma_U_2_2}", "{e.Reaction:sigma2}"))
names(cases) <- sapply(cases, function(c) c$id)
out <- list(
  sampler = list(chains = n_chains, warmup = n_warmup, draws = n_draws, seed = seed,
                 adapt_delta = 0.95, algorithm = "NUTS (rstan)"),
  priors = list(coefficients = "normal(0, 10000)", variances = "igamma(0.01, 0.01)",
                exchangeable = "correlation uniform on (-1/(K-1), 1)",
                unstructured = "lkj(2) on the correlation, igamma(0.01, 0.01) on each variance"),
  software = list(R = R.version.string, rstan = as.character(packageVersion("rstan")),
                  StanHeaders = as.character(packageVersion("StanHeaders"))),
  compile_s = compile_s, cases = cases)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path(here, "stan_refs_covariance.json"))
