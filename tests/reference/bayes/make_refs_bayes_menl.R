# Stan reference for bayes: menl (tests/test_bayes_menl.py): Orange trees' logistic growth
# with a random asymptote per tree (R's datasets::Orange, as mejax.datasets.load("Orange")):
#   bayes, prior({b1}, normal(200, 10000)) prior({b2}, normal(700, 40000))
#          prior({b3}, normal(350, 10000)) prior({var_U}, igamma(2, 1000)):
#     menl circumference = ({b1}+{U[Tree]})/(1+exp(-(age-{b2})/{b3}))
# {sigma2} has the default igamma(0.01, 0.01). Program: nonlinear_orange.stan.
# Run from the repository root:  Rscript tests/reference/bayes/make_refs_bayes_menl.R
# Writes tests/reference/bayes/stan_refs_menl.json in stan_refs.json's format.
suppressMessages({library(rstan); library(jsonlite)})
rstan_options(auto_write = FALSE)
here <- "tests/reference/bayes"
n_chains <- 4; n_warmup <- 2000; n_draws <- 25000; seed <- 20261202
t0 <- Sys.time()
model <- stan_model(file.path(here, "nonlinear_orange.stan"))
compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

d <- datasets::Orange
tree <- as.integer(factor(as.character(d$Tree)))
data <- list(N = nrow(d), J = max(tree), age = d$age, y = d$circumference, g = tree,
             prior_mean = c(200, 700, 350), prior_sd = c(100, 200, 100),
             u_shape = 2, u_scale = 1000, e_shape = 0.01, e_scale = 0.01)
t1 <- Sys.time()
fit <- sampling(model, data = data, chains = n_chains, iter = n_warmup + n_draws,
                warmup = n_warmup, seed = seed, cores = 2, refresh = 0,
                control = list(adapt_delta = 0.9))
wall <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
pars <- c("b[1]", "b[2]", "b[3]", "var_U", "sigma2")
stata <- c("{b1}", "{b2}", "{b3}", "{var_U}", "{sigma2}")
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
cat(sprintf("orange_menl: %.1f s wall, %d divergent, min bulk ESS %.0f, max Rhat %.4f\n", wall,
            divergent, min(mon$Bulk_ESS), max(mon$Rhat)))
out <- list(
  sampler = list(chains = n_chains, warmup = n_warmup, draws = n_draws, seed = seed,
                 adapt_delta = 0.9, algorithm = "NUTS (rstan)"),
  priors = list(b1 = "normal(200, 10000)", b2 = "normal(700, 40000)",
                b3 = "normal(350, 10000)", var_U = "igamma(2, 1000)",
                sigma2 = "igamma(0.01, 0.01)"),
  software = list(R = R.version.string, rstan = as.character(packageVersion("rstan")),
                  StanHeaders = as.character(packageVersion("StanHeaders"))),
  compile_s = compile_s,
  cases = list(orange_menl = list(id = "orange_menl", params = params, divergent = divergent,
                                  wall_s = wall, min_ess_bulk = min(mon$Bulk_ESS))))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path(here, "stan_refs_menl.json"))
