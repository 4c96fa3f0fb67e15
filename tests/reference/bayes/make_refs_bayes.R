# Stan references for mejax.bayes (tests/test_bayes_stan.py), with Stata's default priors:
# coefficients normal(0, 10000) (sd 100), variances igamma(0.01, 0.01), random effects
# non-centred.  Same program for all three models: glmm_independent.stan.
#   sleepstudy: bayes: mixed Reaction Days || Subject: Days      (independent intercept, slope)
#   cbpp:       bayes: melogit incidence i.period || herd:, binomial(size)
#   epilepsy:   bayes: mepoisson y lbase trt lbase_trt lage V4 || subject:
# Run from the repository root:  Rscript tests/reference/bayes/make_refs_bayes.R
# Writes tests/reference/bayes/stan_refs.json: for each model and parameter (Stata's names) the
# posterior mean, sd, median, 2.5% and 97.5% quantiles with their MCSEs (rstan::monitor), bulk
# ESS and R-hat, plus the sampler settings, timings and software versions.
suppressMessages({library(rstan); library(jsonlite)})
rstan_options(auto_write = FALSE)
here <- "tests/reference/bayes"
read_data <- function(name) read.csv(file.path("tests/reference/data", paste0(name, ".csv")))
n_chains <- 4; n_warmup <- 2000; n_draws <- 25000; seed <- 20261201
t0 <- Sys.time()
model <- stan_model(file.path(here, "glmm_independent.stan"))
compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

fit_case <- function(id, X, Z, g, family, y, trials, names_beta, names_var, resid_name) {
  N <- nrow(X)
  data <- list(N = N, P = ncol(X), K = ncol(Z), J = max(g), family = family, X = X, Z = Z, g = g,
               y_real = if (family == 1) y else rep(0, N),
               y_int = if (family == 1) rep(0L, N) else as.integer(y),
               trials = if (family == 2) as.integer(trials) else rep(0L, N),
               prior_sd = 100, ig_shape = 0.01, ig_scale = 0.01)
  t1 <- Sys.time()
  fit <- sampling(model, data = data, chains = n_chains, iter = n_warmup + n_draws,
                  warmup = n_warmup, seed = seed, cores = 2, refresh = 0,
                  control = list(adapt_delta = 0.9))
  wall <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
  times <- get_elapsed_time(fit)
  pars <- c(paste0("beta[", seq_len(ncol(X)), "]"), paste0("var_u[", seq_len(ncol(Z)), "]"),
            if (family == 1) "sigma2[1]")
  arr <- as.array(fit, pars = pars)
  mon <- as.data.frame(monitor(arr, warmup = 0, print = FALSE))
  stata <- c(names_beta, names_var, if (family == 1) resid_name)
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
  list(id = id, params = params, divergent = divergent,
       sampling_s = sum(times[, "sample"]), warmup_s = sum(times[, "warmup"]), wall_s = wall,
       min_ess_bulk = min(mon$Bulk_ESS))
}

ss <- read_data("sleepstudy")
g_ss <- as.integer(factor(ss$Subject))
X_ss <- cbind(ss$Days, 1)
Z_ss <- cbind(1, ss$Days)
cases <- list(fit_case("sleepstudy_mixed", X_ss, Z_ss, g_ss, 1, ss$Reaction, NULL,
                       c("{Reaction:Days}", "{Reaction:_cons}"), c("{var_U0}", "{var_U1}"),
                       "{e.Reaction:sigma2}"))

cb <- read_data("cbpp")
X_cb <- cbind(cb$period == 2, cb$period == 3, cb$period == 4, 1) * 1
cases[[2]] <- fit_case("cbpp_melogit", X_cb, matrix(1, nrow(cb), 1), as.integer(factor(cb$herd)),
                       2, cb$incidence, cb$size,
                       c("{incidence:2.period}", "{incidence:3.period}", "{incidence:4.period}",
                         "{incidence:_cons}"), "{var_U0}", NULL)

ep <- read_data("epilepsy")
X_ep <- cbind(ep$lbase, ep$trt, ep$lbase_trt, ep$lage, ep$V4, 1)
cases[[3]] <- fit_case("epilepsy_mepoisson", X_ep, matrix(1, nrow(ep), 1),
                       as.integer(factor(ep$subject)), 3, ep$y, NULL,
                       c("{y:lbase}", "{y:trt}", "{y:lbase_trt}", "{y:lage}", "{y:V4}",
                         "{y:_cons}"), "{var_U0}", NULL)
names(cases) <- sapply(cases, function(c) c$id)
out <- list(
  sampler = list(chains = n_chains, warmup = n_warmup, draws = n_draws, seed = seed,
                 adapt_delta = 0.9, algorithm = "NUTS (rstan)"),
  priors = list(coefficients = "normal(0, 10000)", variances = "igamma(0.01, 0.01)"),
  software = list(R = R.version.string, rstan = as.character(packageVersion("rstan")),
                  StanHeaders = as.character(packageVersion("StanHeaders"))),
  compile_s = compile_s, cases = cases)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "stan_refs.json"))
